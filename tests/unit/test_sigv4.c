/* test_sigv4.c - SigV4 encoding rules, header rules, dates and the derived-key cache. */
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/error.h"
#include "retraind/sigv4.h"
#include "rt_test.h"

RT_TEST(placeholder)
{
    RT_ASSERT(1);
}
