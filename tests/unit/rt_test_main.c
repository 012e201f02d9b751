/*
 * rt_test_main.c - runner shared by every unit-test binary (see rt_test.h).
 */
#include <ftw.h>
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

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < n_cases; i++)
            printf("%s\n", cases[i].name);
        return 0;
    }
    int ran = 0;
    for (int i = 0; i < n_cases; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        cases[i].fn();
        ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "no test case named %s\n", argc > 1 ? argv[1] : "(any)");
        return 1;
    }
    return 0;
}
