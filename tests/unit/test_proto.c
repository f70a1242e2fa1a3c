#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto.h"

static void
test_placeholder(void **state)
{
	(void)state;
	assert_string_equal(msg_status_name(MSG_ST_OK), "OK");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placeholder),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
