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
#include "proto.h"
#include "stats.h"

#define OP_UDP_OK	0x01	/* may be served over UDP (issue 5) */
#define OP_NEEDS_AUTH	0x02	/* denied before AUTH when a token is set */

/* What the operations may consult: the process's shared state. */
struct ops_env {
	const struct stats_seg	*stats;
};

struct op_req {
	const struct ops_env	*env;
	const struct msg_hdr	*hdr;
	const uint8_t		*key;
	size_t			 klen;
	const uint8_t		*val;
	size_t			 vlen;
};

struct op_res {
	struct buf	*out;	/* append key, then value */
	size_t		 klen;	/* bytes of the appended data that are key */
	const char	*msg;	/* error text when the status is not OK */
};

typedef enum msg_status (*op_handler)(const struct op_req *, struct op_res *);

struct op_def {
	uint8_t		 op;
	const char	*name;
	unsigned int	 flags;
	op_handler	 fn;
};

const struct op_def *ops_lookup(uint8_t);
int	ops_dispatch(const struct ops_env *, const struct msg_hdr *,
	    const uint8_t *, struct buf *, enum msg_status *);
int	ops_error(struct buf *, uint8_t, enum msg_status, uint32_t,
	    const char *);

#endif /* MSGD_OPS_H */
