/*
 * test_master_proc.c: the master's process table on its own, with small
 * children of the test standing in for workers: what proc_reap() reports
 * for an exit (status, state, requests, hung, seccomp) and that it frees
 * the slot; the start-up probe's answer; draining, killing and the health
 * checks; and the hand-over of connections between slots, and how many
 * may wait.  No daemon and no real worker run.
 */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "master_fx.h"
#include "master_proc.h"
#include "proto.h"
#include "sandbox.h"
#include "stats.h"
#include "util.h"
#include "xfer.h"

/* Generations are only tags to the table: two distinct addresses. */
static char	gen_a, gen_b;
#define GEN_A	((struct gen *)(void *)&gen_a)
#define GEN_B	((struct gen *)(void *)&gen_b)

/* A child that exits with code at once. */
static pid_t
child_exit(int code)
{
	pid_t	pid;

	if ((pid = fork()) == 0)
		_exit(code);
	assert_true(pid > 0);
	return (pid);
}

/* Block until pid has exited, leaving it to be reaped; its status. */
static int
wait_exited(pid_t pid)
{
	siginfo_t	si;

	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	return (si.si_code == CLD_EXITED ? si.si_status : -si.si_status);
}

/* Put pid in slot idx as position pos of generation g, in state st. */
static struct wproc *
list_proc(struct mfx *fx, int idx, pid_t pid, struct gen *g, int pos,
    enum wstate st)
{
	struct wproc	*p = &fx->pt.procs[idx];

	p->pid = pid;
	p->gen = g;
	p->pos = pos;
	p->state = st;
	p->started = mono_ms();
	return (p);
}

/* A worker that exits 3: one report with everything, the slot freed. */
static void
test_reap_reports_exit(void **state)
{
	struct mfx		*fx = *state;
	struct proc_exit	 e;
	struct stats_slot	*s;
	pid_t			 pid;
	int			 i;

	pid = child_exit(3);
	list_proc(fx, 1, pid, GEN_A, 2, W_SERVING);
	s = stats_slot(&fx->seg, 1);
	for (i = 0; i < 3; i++)
		stats_request(s, MSG_OP_PING, MSG_ST_OK, 10);
	assert_int_equal(wait_exited(pid), 3);

	assert_int_equal(proc_reap(&fx->pt, NULL, &e), 1);
	assert_ptr_equal(e.gen, GEN_A);
	assert_int_equal(e.pid, pid);
	assert_int_equal(e.slot, 1);
	assert_int_equal(e.pos, 2);
	assert_true(WIFEXITED(e.status) && WEXITSTATUS(e.status) == 3);
	assert_int_equal(e.state, W_SERVING);
	assert_int_equal(e.hung, 0);
	assert_int_equal(e.seccomp, 0);
	assert_int_equal(e.requests, 3);
	assert_string_equal(e.why, "exited 3");
	assert_true(proc_failed(&e));
	assert_true(e.what[0] != '\0');

	/* Unlisted: the slot is free for the next worker. */
	assert_int_equal(fx->pt.procs[1].state, W_FREE);
	assert_int_equal(fx->pt.procs[1].pid, 0);
	assert_int_equal(fx->pt.procs[1].probe, -1);
	assert_int_equal(fx->pt.procs[1].ctl, -1);
	assert_int_equal(fx->pt.procs[1].note, -1);
	assert_int_equal(proc_count(&fx->pt, NULL, W_FREE), 0);
	/* Nothing more to reap. */
	assert_int_equal(proc_reap(&fx->pt, NULL, &e), 0);
}

/* Exit 0 is no failure, unless the master had found it hung. */
static void
test_reap_clean_and_hung(void **state)
{
	struct mfx		*fx = *state;
	struct proc_exit	 e;
	struct wproc		*p;
	pid_t			 pid;

	pid = child_exit(0);
	list_proc(fx, 0, pid, GEN_B, 0, W_DRAINING);
	(void)wait_exited(pid);
	assert_int_equal(proc_reap(&fx->pt, NULL, &e), 1);
	assert_int_equal(e.state, W_DRAINING);
	assert_string_equal(e.why, "exited 0");
	assert_false(proc_failed(&e));
	assert_string_equal(e.what, "");
	assert_int_equal(e.requests, 0);

	pid = child_exit(0);
	p = list_proc(fx, 3, pid, GEN_B, 1, W_SERVING);
	p->hung = 1;
	(void)wait_exited(pid);
	assert_int_equal(proc_reap(&fx->pt, NULL, &e), 1);
	assert_int_equal(e.slot, 3);
	assert_int_equal(e.hung, 1);
	assert_true(proc_failed(&e));
	assert_int_equal(proc_reap(&fx->pt, NULL, &e), 0);
}

/* One SIGCHLD for many: each exit is reported once, then none. */
static void
test_reap_several(void **state)
{
	struct mfx		*fx = *state;
	struct proc_exit	 e;
	pid_t			 a, b;
	int			 seen = 0, n;

	a = child_exit(5);
	b = child_exit(6);
	list_proc(fx, 0, a, GEN_A, 0, W_STARTING);
	list_proc(fx, 2, b, GEN_A, 1, W_SERVING);
	(void)wait_exited(a);
	(void)wait_exited(b);
	for (n = 0; n < 4 && proc_reap(&fx->pt, NULL, &e) == 1; n++) {
		if (e.pid == a) {
			assert_int_equal(e.slot, 0);
			assert_int_equal(e.state, W_STARTING);
			assert_int_equal(WEXITSTATUS(e.status), 5);
			seen |= 1;
		} else {
			assert_int_equal(e.pid, b);
			assert_int_equal(e.slot, 2);
			assert_int_equal(WEXITSTATUS(e.status), 6);
			seen |= 2;
		}
	}
	assert_int_equal(n, 2);
	assert_int_equal(seen, 3);
}

/* A child that is no worker (an orphaned command) is reaped, not reported. */
static void
test_reap_orphan_not_reported(void **state)
{
	struct mfx		*fx = *state;
	struct proc_exit	 e;
	pid_t			 pid;

	pid = child_exit(7);
	(void)wait_exited(pid);
	assert_int_equal(proc_reap(&fx->pt, NULL, &e), 0);
	errno = 0;
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* Killed by SIGSYS (its seccomp filter): reported as such, note read. */
static void
test_reap_seccomp(void **state)
{
	struct mfx		*fx = *state;
	struct proc_exit	 e;
	struct sandbox_note	 note;
	struct wproc		*p;
	pid_t			 pid;
	int			 nv[2];

	assert_int_equal(pipe2(nv, O_CLOEXEC | O_NONBLOCK), 0);
	if ((pid = fork()) == 0) {
		memset(&note, 0, sizeof(note));
		note.magic = SANDBOX_NOTE_MAGIC;
		note.nr = 0;
		(void)write(nv[1], &note, sizeof(note));
		signal(SIGSYS, SIG_DFL);
		raise(SIGSYS);
		_exit(1);
	}
	assert_true(pid > 0);
	close(nv[1]);
	p = list_proc(fx, 1, pid, GEN_A, 0, W_SERVING);
	p->note = nv[0];
	assert_int_equal(wait_exited(pid), -SIGSYS);
	assert_int_equal(proc_reap(&fx->pt, NULL, &e), 1);
	assert_int_equal(e.seccomp, 1);
	assert_true(WIFSIGNALED(e.status) && WTERMSIG(e.status) == SIGSYS);
	assert_true(strncmp(e.why, "killed by signal ", 17) == 0);
	assert_true(proc_failed(&e));
	/* The table closed its end of the note pipe. */
	assert_int_equal(fx->pt.procs[1].note, -1);
	assert_int_equal(fcntl(nv[0], F_GETFD), -1);
}

/* The probe: a PONG, even in pieces, makes a starting worker serve. */
static void
test_probe_pong(void **state)
{
	struct mfx	*fx = *state;
	struct wproc	*p;
	uint8_t		 buf[MSG_HDR_LEN + 4];
	int		 sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	p = list_proc(fx, 2, mfx_child_pause(), GEN_A, 0, W_STARTING);
	p->probe = sv[0];
	msg_encode_response(buf, MSG_OP_PING, MSG_ST_OK, 2, 0, 4);
	memcpy(buf + MSG_HDR_LEN, "PONG", 4);
	assert_int_equal(write(sv[1], buf, 5), 5);
	assert_int_equal(proc_probe(&fx->pt, 2), 0);
	assert_int_equal(p->state, W_STARTING);
	assert_int_equal(write(sv[1], buf + 5, sizeof(buf) - 5),
	    (ssize_t)(sizeof(buf) - 5));
	assert_int_equal(proc_probe(&fx->pt, 2), 1);
	assert_int_equal(p->state, W_SERVING);
	assert_int_equal(p->probe, -1);
	assert_int_equal(proc_count(&fx->pt, GEN_A, W_SERVING), 1);
	close(sv[1]);
}

/* A wrong answer kills the worker; a closed probe is left to the reaper. */
static void
test_probe_wrong_or_closed(void **state)
{
	struct mfx	*fx = *state;
	struct wproc	*p;
	uint8_t		 buf[MSG_HDR_LEN + 4];
	pid_t		 pid;
	int		 sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	pid = mfx_child_pause();
	p = list_proc(fx, 0, pid, GEN_A, 0, W_STARTING);
	p->probe = sv[0];
	msg_encode_response(buf, MSG_OP_PING, MSG_ST_UNKNOWN_OP, 0, 0, 4);
	memcpy(buf + MSG_HDR_LEN, "PONG", 4);
	assert_int_equal(write(sv[1], buf, sizeof(buf)), (ssize_t)sizeof(buf));
	assert_int_equal(proc_probe(&fx->pt, 0), 0);
	assert_int_equal(wait_exited(pid), -SIGKILL);
	assert_int_equal(p->state, W_STARTING);	/* the reaper's to report */
	assert_int_equal(p->probe, -1);
	close(sv[1]);

	/* The child first: it must not hold a copy of the peer's end. */
	p = list_proc(fx, 1, mfx_child_pause(), GEN_A, 1, W_STARTING);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	p->probe = sv[0];
	close(sv[1]);
	assert_int_equal(proc_probe(&fx->pt, 1), 0);
	assert_int_equal(p->probe, -1);
	assert_int_equal(p->state, W_STARTING);
}

/* Drain: SIGTERM (or SIGUSR2 to hand over) once; kill: SIGKILL now. */
static void
test_drain_and_kill(void **state)
{
	struct mfx	*fx = *state;
	struct wproc	*p, *q;
	pid_t		 a, b;

	a = mfx_child_pause();
	p = list_proc(fx, 0, a, GEN_A, 0, W_SERVING);
	proc_drain(&fx->pt, 0, 12345, 0);
	assert_int_equal(p->state, W_DRAINING);
	assert_int_equal(p->kill_at, 12345);
	proc_drain(&fx->pt, 0, 99999, 1);	/* already draining: no-op */
	assert_int_equal(p->kill_at, 12345);
	assert_int_equal(wait_exited(a), -SIGTERM);

	b = mfx_child_pause();
	q = list_proc(fx, 1, b, GEN_B, 0, W_STARTING);
	proc_kill(&fx->pt, 1);
	assert_int_equal(q->state, W_DRAINING);
	assert_true(q->kill_at == UINT64_MAX);
	assert_int_equal(wait_exited(b), -SIGKILL);
	assert_int_equal(proc_count(&fx->pt, NULL, W_DRAINING), 2);
	assert_int_equal(proc_count(&fx->pt, GEN_B, W_FREE), 1);
}

/* Health: no answer by the deadline, a stale heartbeat, a long drain. */
static void
test_check_health(void **state)
{
	struct mfx		*fx = *state;
	struct stats_slot	*s;
	struct wproc		*p, *q, *r;
	uint64_t		 now = mono_ms() + 100000;
	pid_t			 a, b, c;

	a = mfx_child_pause();
	p = list_proc(fx, 0, a, GEN_A, 0, W_STARTING);
	p->kill_at = now;
	b = mfx_child_pause();
	q = list_proc(fx, 1, b, GEN_A, 1, W_SERVING);
	q->timeout_ms = 1000;
	s = stats_slot(&fx->seg, 1);
	atomic_store(&s->heartbeat_ms, now - 5000);
	c = mfx_child_pause();
	r = list_proc(fx, 2, c, GEN_A, 2, W_DRAINING);
	r->kill_at = now + 1;

	proc_check_health(&fx->pt, now);
	assert_int_equal(wait_exited(a), -SIGKILL);
	assert_true(p->kill_at == UINT64_MAX);
	assert_int_equal(wait_exited(b), -SIGKILL);
	assert_int_equal(q->hung, 1);
	assert_int_equal(r->kill_at, now + 1);	/* not yet */
	proc_check_health(&fx->pt, now + 1);
	assert_int_equal(wait_exited(c), -SIGKILL);
	assert_true(r->kill_at == UINT64_MAX);
}

/* A retiring worker's connection goes to a serving worker of to. */
static void
test_xfer_hand_over(void **state)
{
	struct mfx		*fx = *state;
	struct xfer_info	 info, got;
	struct wproc		*from, *t;
	int			 a[2], b[2], sp[2], fd;

	/* The children first: they must not hold copies of the channels. */
	from = list_proc(fx, 0, mfx_child_pause(), GEN_A, 0, W_DRAINING);
	t = list_proc(fx, 3, mfx_child_pause(), GEN_B, 0, W_STARTING);
	assert_int_equal(xfer_pair(a), 0);
	assert_int_equal(xfer_pair(b), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	memset(&info, 0, sizeof(info));
	info.version = XFER_VERSION;
	info.peer.family = AF_INET;
	info.peer.port = 7;
	from->ctl = a[0];
	t->ctl = b[0];

	/* No serving worker of GEN_B yet: the connection waits. */
	assert_int_equal(xfer_send(a[1], sp[0], &info), 0);
	assert_int_equal(proc_xfer(&fx->pt, 0, GEN_B), 0);
	assert_int_equal(from->retiring, 1);
	assert_int_equal(from->handed, 1);	/* a socket came */
	assert_int_equal(fx->pt.nxw, 1);
	assert_int_equal(proc_xfer_flush(&fx->pt, GEN_B), 1);

	/* Now one serves: the waiting one is passed on. */
	t->state = W_SERVING;
	assert_int_equal(proc_xfer_flush(&fx->pt, GEN_B), 0);
	assert_int_equal(xfer_recv(b[1], &fd, &got), 1);
	assert_int_equal(got.peer.port, 7);
	close(fd);

	/* Stopping (no target): a connection handed over is closed. */
	assert_int_equal(xfer_send(a[1], sp[0], &info), 0);
	assert_int_equal(proc_xfer(&fx->pt, 0, NULL), 0);
	assert_int_equal(fx->pt.nxw, 0);
	assert_int_equal(xfer_recv(b[1], &fd, &got), 0);

	/* The retiring worker's channel closes: the table drops it. */
	close(a[1]);
	assert_int_equal(proc_xfer(&fx->pt, 0, GEN_B), 0);
	assert_int_equal(from->ctl, -1);
	close(b[1]);
	close(sp[0]);
	close(sp[1]);
}

/* How many descriptors this process has open. */
static int
open_fds(void)
{
	int	fd, n = 0;

	for (fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return (n);
}

/*
 * Connections that wait for a worker are the master's descriptors: at
 * most what its limit of open files leaves after its own (proc_xfer_max)
 * wait, and past that the master reads no more hand-overs: they wait in
 * the channel, none is lost, and the senders retry.  A hand-over, a
 * compromised worker's included, never takes the descriptors the master
 * needs to start a worker.
 */
static void
test_xfer_wait_bounded(void **state)
{
	struct mfx		*fx = *state;
	struct xfer_info	 info;
	struct rlimit		 rl;
	struct wproc		*from, *t;
	int			 a[2], b[2], sp[2], i, base, unread, fd;

	/*
	 * 64 + 2 x 16 listeners + 4 per slot are the master's own, and 253
	 * (XFER_FDS_MAX) are kept for the most one message can carry.
	 */
	assert_int_equal(proc_xfer_max(1024, 2), 1024 - 104 - 253);
	assert_int_equal(proc_xfer_max(1024, 128), 1024 - 608 - 253);
	assert_int_equal(proc_xfer_max(370, 2), XW_MIN);
	assert_int_equal(proc_xfer_max(RLIM_INFINITY, 2), XW_MAX);
	assert_int_equal(proc_xfer_max((rlim_t)4 * XW_MAX, 2), XW_MAX);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(fx->pt.xwmax, proc_xfer_max(rl.rlim_cur, MFX_SLOTS));

	from = list_proc(fx, 0, mfx_child_pause(), GEN_A, 0, W_DRAINING);
	t = list_proc(fx, 3, mfx_child_pause(), GEN_B, 0, W_STARTING);
	assert_int_equal(xfer_pair(a), 0);
	assert_int_equal(xfer_pair(b), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	from->ctl = a[0];
	t->ctl = b[0];
	memset(&info, 0, sizeof(info));
	info.version = XFER_VERSION;
	info.peer.family = AF_INET;
	fx->pt.xwmax = 3;
	base = open_fds();
	for (i = 0; i < 5; i++)
		assert_int_equal(xfer_send(a[1], sp[0], &info), 0);
	/* No serving worker of GEN_B: three wait, two are not read. */
	assert_int_equal(proc_xfer(&fx->pt, 0, GEN_B), 0);
	assert_int_equal(fx->pt.nxw, 3);
	assert_false(proc_xfer_room(&fx->pt));
	assert_int_equal(open_fds(), base + 3);
	assert_int_equal(ioctl(a[0], FIONREAD, &unread), 0);
	assert_int_equal(unread, 2 * (int)sizeof(info));

	/* One serves: the three go to it, then the two as they are read. */
	t->state = W_SERVING;
	assert_int_equal(proc_xfer_flush(&fx->pt, GEN_B), 0);
	assert_true(proc_xfer_room(&fx->pt));
	assert_int_equal(proc_xfer(&fx->pt, 0, GEN_B), 0);
	for (i = 0; i < 5; i++) {
		assert_int_equal(xfer_recv(b[1], &fd, &info), 1);
		close(fd);
	}
	assert_int_equal(open_fds(), base);
	close(a[1]);
	close(b[1]);
	close(sp[0]);
	close(sp[1]);
}

/* The closer proc_grave_flush started has exited (bounded wait). */
static void
reap_closer(void)
{
	pid_t	pid = 0;
	int	i, st = 0;

	for (i = 0; i < 1000; i++) {
		if ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			break;
		(void)poll(NULL, 0, 10);
	}
	assert_true(pid > 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/*
 * A sender that breaks the protocol (here a message without its
 * descriptor; test_xfer has the other ways) is no sender of ours: its
 * channel is closed at once, not read on, and it is not taken for a
 * worker recycling.
 */
static void
test_xfer_protocol_break(void **state)
{
	struct mfx		*fx = *state;
	struct xfer_info	 info;
	struct wproc		*from;
	int			 a[2], sp[2], base;

	from = list_proc(fx, 0, mfx_child_pause(), GEN_A, 0, W_SERVING);
	assert_int_equal(xfer_pair(a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	from->ctl = a[0];
	memset(&info, 0, sizeof(info));
	info.version = XFER_VERSION;
	base = open_fds();
	assert_int_equal(send(a[1], &info, sizeof(info), 0),
	    (ssize_t)sizeof(info));
	assert_int_equal(xfer_send(a[1], sp[0], &info), 0);
	assert_int_equal(proc_xfer(&fx->pt, 0, GEN_A), 0);
	assert_int_equal(from->ctl, -1);
	assert_int_equal(fx->pt.nxw, 0);
	/* No socket came: nothing says it recycles (no successor). */
	assert_int_equal(from->handed, 0);
	/*
	 * Its end of the channel goes to the closer (proc_bury), the next
	 * message never read; closed once the grave is flushed.
	 */
	assert_int_equal(fx->pt.ngrave, 1);
	proc_grave_flush(&fx->pt);
	reap_closer();
	assert_int_equal(open_fds(), base - 1);
	close(a[1]);
	close(sp[0]);
	close(sp[1]);
}

/*
 * A TCP socket with SO_LINGER of an hour and bytes its peer never reads:
 * its last close would wait that long.  Returns it; *peer its peer.
 */
static int
lingering_tcp(int *peer)
{
	struct sockaddr_in	 a;
	struct linger		 l;
	socklen_t		 alen = sizeof(a);
	char			 buf[65536];
	int			 lsn, fd, small = 4096, i;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((lsn = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(bind(lsn, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lsn, 1), 0);
	assert_int_equal(getsockname(lsn, (struct sockaddr *)&a, &alen), 0);
	assert_true((*peer = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(setsockopt(*peer, SOL_SOCKET, SO_RCVBUF, &small,
	    sizeof(small)), 0);
	assert_int_equal(connect(*peer, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_true((fd = accept4(lsn, NULL, NULL, SOCK_NONBLOCK)) != -1);
	close(lsn);
	l.l_onoff = 1;
	l.l_linger = 3600;
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &l,
	    sizeof(l)), 0);
	memset(buf, 'z', sizeof(buf));
	for (i = 0; i < 1000 && send(fd, buf, sizeof(buf), 0) > 0; i++)
		;
	assert_int_equal(errno, EAGAIN);
	return (fd);
}

/*
 * A unix datagram socket holding fd in its queue, as a sandboxed worker
 * can make one (an address by autobind, a second socket to send from).
 */
static int
nested_in_unix(int fd)
{
	struct sockaddr_un	sa;
	socklen_t		len = sizeof(sa);
	int			d1, d2;

	assert_true((d1 = socket(AF_UNIX, SOCK_DGRAM, 0)) != -1);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	assert_int_equal(bind(d1, (struct sockaddr *)&sa,
	    sizeof(sa_family_t)), 0);
	assert_int_equal(getsockname(d1, (struct sockaddr *)&sa, &len), 0);
	assert_true((d2 = socket(AF_UNIX, SOCK_DGRAM, 0)) != -1);
	assert_int_equal(fd_send(d2, "i", 1, fd, &sa, len, 0), 1);
	close(d2);
	return (d1);
}

/*
 * What a worker sent is never closed by the master itself: buried, it is
 * closed by a child that exits (the kernel does not linger then).  Here a
 * unix socket holding a TCP socket whose last close would wait an hour:
 * turning SO_LINGER off on the outer one does nothing for it.  What the
 * master disposes of (xfer_dispose) is buried.  alarm: a wait fails.
 */
static void
test_grave(void **state)
{
	struct mfx	*fx = *state;
	int		 tcp, fd, peer;

	tcp = lingering_tcp(&peer);
	fd = nested_in_unix(tcp);
	close(tcp);		/* the queued copy is the last */
	alarm(20);
	xfer_dispose(fd);
	assert_int_equal(fx->pt.ngrave, 1);
	assert_true(fcntl(fd, F_GETFD) != -1);	/* still the master's */
	proc_grave_flush(&fx->pt);
	alarm(0);
	assert_int_equal(fx->pt.ngrave, 0);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	/* The closer exits once the master has let go. */
	reap_closer();
	close(peer);
}

/*
 * A child the master forks (fork_child: a worker, the exporter, a new
 * master) never holds what is buried, even while the last closer has
 * not been reaped: the grave is flushed first.  Else that child could
 * make the last close, and wait in it (a new worker then misses its
 * start-up probe: test_trust_xfer linger_in_channel, under load).
 */
static void
test_grave_before_fork(void **state)
{
	struct mfx	*fx = *state;
	int		 a[2], b[2], st;
	pid_t		 pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    b), 0);
	alarm(20);
	xfer_dispose(a[0]);
	proc_grave_flush(&fx->pt);
	assert_true(fx->pt.closer != 0);	/* not reaped yet */
	xfer_dispose(b[0]);
	assert_int_equal(fx->pt.ngrave, 1);
	if ((pid = fork_child()) == 0)
		_exit(fcntl(b[0], F_GETFD) == -1 ? 0 : 1);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	alarm(0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);	/* b[0] was not inherited */
	assert_int_equal(fx->pt.ngrave, 0);
	reap_closer();
	close(a[1]);
	close(b[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reap_reports_exit,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_reap_clean_and_hung,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_reap_several,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_reap_orphan_not_reported,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_reap_seccomp,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_probe_pong,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_probe_wrong_or_closed,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_drain_and_kill,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_check_health,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_xfer_hand_over,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_xfer_wait_bounded,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_xfer_protocol_break,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_grave,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_grave_before_fork,
		    mfx_setup, mfx_teardown),
	};

	/* Workers here are children of the test: it is their reaper. */
	signal(SIGPIPE, SIG_IGN);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
