/* test_core.c - errors, buffers, log quoting and time formatting. */
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/error.h"
#include "retraind/log.h"
#include "rt_test.h"

RT_TEST(error_first_failure_wins)
{
    struct rt_error e;
    rt_error_clear(&e);
    RT_ASSERT_INT_EQ(rt_error_set(&e, RT_EINVAL, "first %d", 1), RT_EINVAL);
    rt_error_set(&e, RT_EIO, "second");
    RT_ASSERT_INT_EQ(e.code, RT_EINVAL);
    RT_ASSERT_STR_EQ(e.msg, "first 1");
}

RT_TEST(error_format_config_position)
{
    struct rt_error e;
    char out[600];
    rt_error_clear(&e);
    rt_error_set_at(&e, RT_ECONFIG, "a.yaml", 3, 7, "unknown key \"x\"");
    RT_ASSERT_STR_EQ(rt_error_format(&e, out, sizeof(out)), "a.yaml:3:7: unknown key \"x\"");
}

RT_TEST(error_names)
{
    RT_ASSERT_STR_EQ(rt_err_name(RT_ECONFIG), "RT_ECONFIG");
    RT_ASSERT_STR_EQ(rt_err_name(-2), "ENOENT");
    RT_ASSERT(rt_strerror(RT_EKEY)[0] != '\0');
}

RT_TEST(buf_refuses_past_max)
{
    struct rt_buf b;
    rt_buf_init(&b, 8);
    RT_ASSERT_OK(rt_buf_append_str(&b, "12345678"));
    RT_ASSERT_INT_EQ(rt_buf_append_char(&b, 'x'), RT_ETOOBIG);
    RT_ASSERT_STR_EQ(b.data, "12345678");
    rt_buf_cleanup(&b);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(buf_printf_grows)
{
    struct rt_buf b;
    rt_buf_init(&b, 1 << 20);
    for (int i = 0; i < 1000; i++)
        RT_ASSERT_OK(rt_buf_printf(&b, "%d,", i));
    RT_ASSERT(b.len > 1000);
    RT_ASSERT(strncmp(b.data, "0,1,2,", 6) == 0);
    char *s = rt_buf_detach(&b);
    rt_free(s);
}

RT_TEST(log_quote)
{
    RT_ASSERT_STR_EQ(rt_q("plain"), "plain");
    RT_ASSERT_STR_EQ(rt_q("two words"), "\"two words\"");
    RT_ASSERT_STR_EQ(rt_q("a\"b\n"), "\"a\\\"b\\n\"");
    RT_ASSERT_STR_EQ(rt_q(""), "\"\"");
    RT_ASSERT_STR_EQ(rt_q(NULL), "-");
}

RT_TEST(clock_rfc3339_roundtrip)
{
    char s[40];
    rt_time_rfc3339(1700000000123LL, s, sizeof(s));
    RT_ASSERT_STR_EQ(s, "2023-11-14T22:13:20.123Z");
    int64_t back = 0;
    RT_ASSERT_OK(rt_time_parse_rfc3339(s, &back));
    RT_ASSERT_INT_EQ(back, 1700000000123LL);
    RT_ASSERT(rt_time_parse_rfc3339("2023-11-14 22:13:20", &back) != 0);
}

RT_TEST(alloc_failure_injection)
{
    rt_alloc_fail_after(2);
    void *a = rt_malloc(4);
    void *b = rt_malloc(4);
    RT_ASSERT(a != NULL);
    RT_ASSERT(b == NULL);
    rt_alloc_fail_after(0);
    rt_free(a);
}
