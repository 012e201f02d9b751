/*
 * rt_test_main.c - runner shared by every unit-test binary (see rt_test.h).
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "retraind/error.h"
#include "rt_test.h"

#define MAX_CASES 512

static struct {
    const char *name;
    rt_test_fn *fn;
} cases[MAX_CASES];
static int n_cases;
static char tmpdir[256];
/* Running every case in one process: a skip jumps back to the runner, which goes on. */
static bool run_all;
static jmp_buf skip_jmp;

void rt_test_register(const char *name, rt_test_fn *fn)
{
    if (n_cases < MAX_CASES) {
        cases[n_cases].name = name;
        cases[n_cases++].fn = fn;
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup_tmp(void)
{
    if (tmpdir[0] && !getenv("RT_KEEP_TMP"))
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *rt_test_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(tmpdir, sizeof(tmpdir), "%s/rt-test-XXXXXX", base);
        if (!mkdtemp(tmpdir))
            RT_FAIL("mkdtemp failed");
        atexit(cleanup_tmp);
    }
    return tmpdir;
}

void rt_test_skip(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "SKIP: %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(NULL);
    if (run_all)
        longjmp(skip_jmp, 1);
    exit(RT_TEST_SKIPPED);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < n_cases; i++)
            printf("%s\n", cases[i].name);
        return 0;
    }
    run_all = argc < 2;
    volatile int ran = 0, skipped = 0;
    for (int i = 0; i < n_cases; i++) {
        if (!run_all && strcmp(argv[1], cases[i].name) != 0)
            continue;
        ran++;
        if (setjmp(skip_jmp) == 0)
            cases[i].fn();
        else
            skipped++;
    }
    if (ran == 0) {
        fprintf(stderr, "no test case named %s\n", argc > 1 ? argv[1] : "(any)");
        return 1;
    }
    if (run_all && skipped)
        fprintf(stderr, "%d of %d cases skipped\n", (int)skipped, (int)ran);
    return skipped == ran ? RT_TEST_SKIPPED : 0;
}
