/*
 * test_clients_publisher.c: zt_publisher_* without a daemon, as a usage example: what
 * zt_publisher_send() refuses (events it could never get acknowledged), the window bound,
 * and the spool: a publisher that is freed (or killed) with events unacknowledged resumes
 * them from the spool directory, and a torn last record is cut off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zonetally.h"

/* Nobody listens here: connecting is asynchronous, so nothing is ever acknowledged. */
#define NOWHERE "tcp://127.0.0.1:9"

static char dir[64];

/* Packs a valid-looking event of publisher pub with sequence seq into buf. */
static size_t
event(const char *pub, uint64_t seq, uint8_t buf[ZT_WIRE_MSG_MAX])
{
	struct zt_wire w = {.has = ZT_W_EVENT_ID | ZT_W_PUBLISHER | ZT_W_SEQUENCE | ZT_W_ZONE,
	    .id_len = 16,
	    .sequence = seq,
	    .zone = 330100};
	memset(w.id, (int)seq, 16);
	(void)snprintf(w.publisher, sizeof(w.publisher), "%s", pub);
	return zt_wire_pack(&w, buf);
}

static int
setup(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/zt-pubtest-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];
	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
send_refusals(void **state)
{
	struct zt_publisher_opts o = {.window = 2};
	struct zt_pubconn *pc = NULL;
	uint8_t buf[ZT_WIRE_MSG_MAX];
	(void)state;

	assert_int_equal(zt_publisher_new(NOWHERE, "p1", &o, &pc), 0);
	size_t n = event("p1", 1, buf);
	assert_int_equal(zt_publisher_send(pc, 2, buf, n), -EINVAL); /* seq differs */
	n = event("other", 1, buf);
	assert_int_equal(zt_publisher_send(pc, 1, buf, n), -EINVAL);        /* not our publisher */
	assert_int_equal(zt_publisher_send(pc, 1, "\xff\xff", 2), -EINVAL); /* undecodable */
	n = event("p1", 1, buf);
	assert_int_equal(zt_publisher_send(pc, 1, buf, n), 0);
	assert_int_equal(zt_publisher_send(pc, 1, buf, n), -EINVAL); /* not increasing */
	n = event("p1", 2, buf);
	assert_int_equal(zt_publisher_send(pc, 2, buf, n), 0);
	n = event("p1", 3, buf);
	assert_int_equal(zt_publisher_send(pc, 3, buf, n), -EAGAIN); /* window of 2 */
	assert_int_equal(zt_publisher_unacked(pc), 2);
	assert_int_equal(zt_publisher_flush(pc, 200), -ETIMEDOUT);
	assert_null(zt_publisher_free(pc));
	assert_null(zt_publisher_free(NULL));
}

static void
spool_resume(void **state)
{
	char spool[128], log[160];
	struct zt_publisher_opts o = {.spool_dir = spool};
	struct zt_pubconn *pc = NULL;
	uint8_t buf[ZT_WIRE_MSG_MAX];
	(void)state;

	(void)snprintf(spool, sizeof(spool), "%s/spool", dir);
	assert_int_equal(zt_publisher_new(NOWHERE, "p1", &o, &pc), 0);
	assert_int_equal(zt_publisher_resume_seq(pc), 0);
	for (uint64_t s = 1; s <= 3; s++) {
		size_t n = event("p1", s, buf);
		assert_int_equal(zt_publisher_send(pc, s, buf, n), 0);
	}
	pc = zt_publisher_free(pc);
	/* a process killed inside write() leaves a torn record behind */
	(void)snprintf(log, sizeof(log), "%s/events", spool);
	int fd = open(log, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\0\0\0\x40\0\0", 6), 6);
	(void)close(fd);
	assert_int_equal(zt_publisher_new(NOWHERE, "p1", &o, &pc), 0);
	assert_int_equal(zt_publisher_resume_seq(pc), 3);
	assert_int_equal(zt_publisher_unacked(pc), 3);
	size_t n = event("p1", 3, buf);
	assert_int_equal(zt_publisher_send(pc, 3, buf, n), -EINVAL); /* already spooled */
	n = event("p1", 4, buf);
	assert_int_equal(zt_publisher_send(pc, 4, buf, n), 0);
	struct zt_publisher_stats st;
	zt_publisher_get_stats(pc, &st);
	assert_int_equal(st.queued, 4);
	assert_int_equal(st.acked, 0);
	zt_publisher_free(pc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(send_refusals),
	    cmocka_unit_test_setup_teardown(spool_resume, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
