/*
 * example.c: send a message to msgd and print the answer, with the
 * installed libmsgdclient (the seeds' first socket client, with msgd's
 * framing, deadlines and errors done by the library).
 *
 *	cc example.c $(pkg-config --cflags --libs msgdclient) -o example
 *	./example 127.0.0.1:7878 hello		prints HELLO
 *	./example unix:/run/msgd/msgd.sock hi	(MSGD_TOKEN: AUTH first)
 *
 * Exit status: 0 answered; 1 an error (its message on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgd/client.h>

int
main(int argc, char *argv[])
{
	struct msgdc_options	 o;
	struct msgdc_reply	 r;
	struct msgdc		*c;

	if (argc != 3) {
		fprintf(stderr, "usage: example ADDRESS MESSAGE\n");
		return (2);
	}
	msgdc_options_init(&o);
	o.token = getenv("MSGD_TOKEN");
	if ((c = msgdc_connect(argv[1], &o)) == NULL) {
		fprintf(stderr, "example: out of memory\n");
		return (1);
	}
	if (msgdc_err(c) != MSGDC_OK ||
	    msgdc_upper(c, argv[2], strlen(argv[2]), &r) != MSGDC_OK) {
		fprintf(stderr, "example: %s\n", msgdc_errstr(c));
		msgdc_free(c);
		return (1);
	}
	printf("%.*s\n", (int)r.vlen, (const char *)r.val);
	msgdc_free(c);
	return (0);
}
