/*
 * sdnotify.h: the systemd service notification protocol (sd_notify(3)),
 * a datagram to $NOTIFY_SOCKET.  Without that variable every call is a
 * no-op, so msgd runs the same with or without systemd.
 */
#ifndef MSGD_SDNOTIFY_H
#define MSGD_SDNOTIFY_H

#include <stdint.h>

int		sdnotify_init(void);
int		sdnotify(const char *, ...) __attribute__((format(printf, 1, 2)));
uint64_t	sdnotify_watchdog_ms(void);
void		sdnotify_forget(void);
void		sdnotify_hold(int);
const char	*sdnotify_socket(void);
uint64_t	sdnotify_watchdog_usec(void);
int		sdnotify_barrier(int);

#endif /* MSGD_SDNOTIFY_H */
