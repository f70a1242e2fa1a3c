/*
 * ops.h: the opcode table and the handlers of the simple operations.
 *
 * A handler gets the decoded request and appends its response key, then its
 * value, to the output buffer; ops_dispatch() writes the header around them
 * and turns an error status into a standard error frame.
 */
#ifndef MSGD_OPS_H
#define MSGD_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "exec.h"
#include "pool.h"
#include "proto.h"
#include "spool.h"
#include "stats.h"

#define OP_UDP_OK	0x01	/* may be served over UDP (issue 5) */
#define OP_NEEDS_AUTH	0x02	/* denied before AUTH when a token is set */

/*
 * A file operation run by a pool thread: the request's bytes copied, the
 * answer's key and value built in out (after room for the header), the
 * status and error text.  The thread owns all of it until it is done.
 */
struct file_job {
	struct pool_job	 pj;		/* pj.arg: the connection */
	struct spool	*sp;
	void		(*done)(struct file_job *, void *);
	uint8_t		 op;
	const uint8_t	*key;		/* key, then value: in req or copy */
	struct buf	 req;		/* the request frame, taken as it is */
	uint8_t		*copy;		/* or a copy of key and value */
	size_t		 klen;
	size_t		 vlen;
	struct buf	 out;
	size_t		 rklen;		/* bytes of out's answer that are key */
	enum msg_status	 st;
	struct errtext	 err;
	uint64_t	*held;		/* the worker's budget total, or NULL */
	uint64_t	 charge;	/* bytes charged to *held until freed */
};

typedef void	(*file_done_fn)(struct file_job *, void *);

/* What the operations may consult: the process's shared state. */
struct ops_env {
	const struct stats_seg	*stats;
	const struct msgd_conf	*conf;
	struct spool		*spool;		/* NULL: files disabled */
	struct exec_ctx		*exec;		/* NULL: exec disabled */
	exec_done_fn		 exec_done;	/* the connection's callback */
	struct pool		*pool;		/* NULL: files run inline */
	file_done_fn		 file_done;	/* the connection's callback */
	uint64_t		 now;		/* loop time, ms */
	void			(*publish)(void *);	/* pending counters */
	void			*publish_arg;
};

/* Who is asking, as far as the operations care. */
struct op_client {
	int	authed;		/* passed AUTH (or no token configured) */
	int	restricted;	/* protected mode: a non-loopback peer */
	int	udp;
	void	*conn;		/* for deferred answers (EXEC, files) */
	struct buf *in;		/* holds the frame alone: a file job may take it */
};

/* What came of a request besides its answer. */
struct op_outcome {
	enum msg_status	 st;
	int		 deferred;	/* EXEC started: answer comes later */
	struct exec_job	*job;
	struct file_job	*fjob;		/* a file operation was queued */
	int		 authed;	/* AUTH succeeded */
	int		 auth_failed;	/* AUTH failed: close after answer */
	int		 denied;	/* refused by auth/protected rules */
};

struct op_req {
	const struct ops_env	*env;
	const struct op_client	*cl;
	const struct msg_hdr	*hdr;
	const uint8_t		*key;
	size_t			 klen;
	const uint8_t		*val;
	size_t			 vlen;
};

struct op_res {
	struct buf		*out;	/* append key, then value */
	size_t			 klen;	/* bytes appended that are key */
	struct errtext		 err;	/* error text when not OK */
	struct op_outcome	*oc;
};

typedef enum msg_status (*op_handler)(const struct op_req *, struct op_res *);

/*
 * An operation whose answer value is its request value transformed in
 * place (ECHO, UPPER) may answer without a copy: the connection turns the
 * request frame into the response frame where it lies.
 */
typedef void (*op_inplace)(uint8_t *, size_t);

struct op_def {
	uint8_t		 op;
	const char	*name;
	unsigned int	 flags;
	op_handler	 fn;
	op_inplace	 inplace;	/* NULL: answers are built */
};

const struct op_def *ops_lookup(uint8_t);
int	ops_allowed(const struct ops_env *, const struct op_client *,
	    const struct op_def *);
int	ops_verbatim(const struct op_def *);
void	ops_transform_run(const struct op_def *, uint8_t *, size_t);
int	ops_dispatch(const struct ops_env *, const struct op_client *,
	    const struct msg_hdr *, const uint8_t *, struct buf *,
	    struct op_outcome *);
int	ops_error(struct buf *, uint8_t, enum msg_status, uint32_t,
	    const char *);
int	ops_file_answer(struct file_job *, struct buf *, uint32_t);

#endif /* MSGD_OPS_H */
