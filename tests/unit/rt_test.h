/*
 * rt_test.h - the unit-test harness: each RT_TEST(name) is its own ctest entry.
 *
 * A test binary runs the one case named by argv[1] (ctest runs one process per case, so a crash
 * or leak is pinned on a single case), all cases with no argument, and prints names with --list.
 * tests/CMakeLists.txt's rt_unit_test() finds the RT_TEST(...) lines in the source and registers
 * each as <module>_<case>.
 *
 * A case whose dependency is missing (a Debian package, a data folder) calls RT_SKIP(reason): the
 * process exits 77, which ctest reports as skipped (SKIP_RETURN_CODE 77), never as passed. Run
 * with no argument, the binary goes on with the next case and says how many were skipped.
 */
#ifndef RT_TEST_H
#define RT_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void rt_test_fn(void);
void rt_test_register(const char *name, rt_test_fn *fn);
/* Returns: a fresh empty temporary folder for this case (removed at exit unless RT_KEEP_TMP). */
const char *rt_test_tmpdir(void);

#define RT_TEST(name)                                                                              \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void register_##name(void)                                 \
    {                                                                                              \
        rt_test_register(#name, test_##name);                                                      \
    }                                                                                              \
    static void test_##name(void)

/* The exit status of a skipped case (ctest's SKIP_RETURN_CODE, automake's convention). */
#define RT_TEST_SKIPPED 77

/* Ends the case as skipped; prints "SKIP: file:line: reason". Does not return. */
void rt_test_skip(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define RT_SKIP(...) rt_test_skip(__FILE__, __LINE__, __VA_ARGS__)

#define RT_FAIL(...)                                                                               \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        exit(1);                                                                                   \
    } while (0)

#define RT_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            RT_FAIL("assertion failed: %s", #cond);                                                \
    } while (0)

#define RT_ASSERT_INT_EQ(a, b)                                                                     \
    do {                                                                                           \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                                           \
        if (a_ != b_)                                                                              \
            RT_FAIL("%s == %s failed: %jd != %jd", #a, #b, a_, b_);                                \
    } while (0)

#define RT_ASSERT_STR_EQ(a, b)                                                                     \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            RT_FAIL("%s == %s failed:\n  got:  \"%s\"\n  want: \"%s\"", #a, #b,                    \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                       \
    } while (0)

#define RT_ASSERT_CONTAINS(hay, needle)                                                            \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_))                                                                \
            RT_FAIL("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);                     \
    } while (0)

/* Asserts a call returned 0, printing the error name otherwise. */
#define RT_ASSERT_OK(expr)                                                                         \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0)                                                                              \
            RT_FAIL("%s returned %d (%s)", #expr, rc_, rt_err_name(rc_));                          \
    } while (0)

#endif
