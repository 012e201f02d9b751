/*
 * test_harness.c - the unit-test harness itself (rt_test.h): a skipped case exits 77 with its
 * reason, which ctest reports as skipped (SKIP_RETURN_CODE 77), so a missing dependency is never
 * counted as a pass; a binary run with no argument goes on past a skip.
 *
 * The demo cases are registered by hand, not with RT_TEST, so ctest never lists them as entries
 * of their own (a permanently skipped entry would be noise). The RT_TEST cases run this binary
 * again as a child (RT_HARNESS_CHILD set) and check its exit status and what it printed.
 */
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt_test.h"

static void demo_skip(void)
{
    RT_SKIP("the reason %d", 42);
}

static void demo_pass(void)
{
    printf("demo_pass ran\n");
}

__attribute__((constructor)) static void register_demos(void)
{
    rt_test_register("demo_skip", demo_skip);
    rt_test_register("demo_pass", demo_pass);
}

/* In a child, the RT_TEST cases below do nothing: they are the parents. */
static bool is_child(void)
{
    return getenv("RT_HARNESS_CHILD") != NULL;
}

/* Runs this binary with case (NULL: every case). Returns: its exit status; out gets stdout and
 * stderr together. */
static int run_self(const char *case_name, char *out, size_t size)
{
    int fds[2];
    RT_ASSERT(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    RT_ASSERT(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        setenv("RT_HARNESS_CHILD", "1", 1);
        if (case_name)
            execl("/proc/self/exe", "test_harness", case_name, (char *)NULL);
        else
            execl("/proc/self/exe", "test_harness", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < size && (r = read(fds[0], out + n, size - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int status;
    RT_ASSERT(waitpid(pid, &status, 0) == pid);
    RT_ASSERT(WIFEXITED(status));
    return WEXITSTATUS(status);
}

RT_TEST(skip_exits_77_with_its_reason)
{
    if (is_child())
        return;
    char out[4096];
    RT_ASSERT_INT_EQ(run_self("demo_skip", out, sizeof(out)), 77); /* SKIP_RETURN_CODE */
    RT_ASSERT_CONTAINS(out, "SKIP: ");
    RT_ASSERT_CONTAINS(out, "test_harness.c:");
    RT_ASSERT_CONTAINS(out, "the reason 42");
    RT_ASSERT_INT_EQ(run_self("demo_pass", out, sizeof(out)), 0);
    RT_ASSERT_CONTAINS(out, "demo_pass ran");
}

RT_TEST(whole_run_goes_on_after_a_skip)
{
    if (is_child())
        return;
    char out[4096];
    RT_ASSERT_INT_EQ(run_self(NULL, out, sizeof(out)), 0);
    RT_ASSERT_CONTAINS(out, "the reason 42");
    RT_ASSERT_CONTAINS(out, "demo_pass ran");
    /* "<skipped> of <ran> cases skipped": only demo_skip skipped, every case ran. */
    const char *tail = strstr(out, " cases skipped");
    RT_ASSERT(tail != NULL);
    const char *line = tail;
    while (line > out && line[-1] != '\n')
        line--;
    int skipped = -1, ran = -1;
    RT_ASSERT_INT_EQ(sscanf(line, "%d of %d", &skipped, &ran), 2);
    RT_ASSERT_INT_EQ(skipped, 1);
    RT_ASSERT(ran >= 4);
}
