/* test_store.c - key validation and the training-image counting rule (pure functions). */
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/error.h"
#include "retraind/store.h"
#include "rt_test.h"

static int check(const char *key, bool trailing)
{
    struct rt_error e;
    rt_error_clear(&e);
    int rc = rt_store_key_check(key, strlen(key), trailing, &e);
    if (rc) {
        RT_ASSERT_INT_EQ(e.code, RT_EKEY);
        RT_ASSERT(e.msg[0] != '\0');
    }
    return rc;
}

RT_TEST(key_valid_accepted)
{
    const char *ok[] = {"a",
                        "a/b/c.png",
                        "images_labeled_by_folder/cat/1.jpg",
                        "\xc3\xa9t\xc3\xa9/\xe2\x82\xac.png",
                        "a/.hidden",
                        "a..b",
                        "...",
                        "a/...",
                        "sp ace/x y.png",
                        "emoji/\xf0\x9f\x98\x80.png",
                        "~/x",
                        "a:b"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (check(ok[i], false) != 0)
            RT_FAIL("refused a valid key #%zu", i);
}

RT_TEST(key_absolute_refused)
{
    RT_ASSERT_INT_EQ(check("/etc/passwd", false), RT_EKEY);
    RT_ASSERT_INT_EQ(check("/", true), RT_EKEY);
}

RT_TEST(key_dot_segments_refused)
{
    const char *bad[] = {"..", ".", "../x", "a/../b", "a/..", "./a", "a/./b", "a/.", "a/../../etc"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        RT_ASSERT_INT_EQ(check(bad[i], false), RT_EKEY);
        RT_ASSERT_INT_EQ(check(bad[i], true), RT_EKEY);
    }
    RT_ASSERT_INT_EQ(check("a/../", true), RT_EKEY);
}

RT_TEST(key_empty_refused)
{
    struct rt_error e;
    rt_error_clear(&e);
    RT_ASSERT_INT_EQ(rt_store_key_check("", 0, true, &e), RT_EKEY);
    RT_ASSERT_INT_EQ(rt_store_key_check(NULL, 0, true, NULL), RT_EKEY);
    RT_ASSERT_INT_EQ(check("a//b", false), RT_EKEY);
    RT_ASSERT_INT_EQ(check("a//", true), RT_EKEY);
}

RT_TEST(key_control_characters_refused)
{
    RT_ASSERT_INT_EQ(check("a\nb", false), RT_EKEY);
    RT_ASSERT_INT_EQ(check("a\tb", false), RT_EKEY);
    RT_ASSERT_INT_EQ(check("\x1b[31m", false), RT_EKEY);
    RT_ASSERT_INT_EQ(check("a\x7f", false), RT_EKEY);
    /* An embedded NUL: the length says where the key ends, not the NUL. */
    struct rt_error e;
    rt_error_clear(&e);
    RT_ASSERT_INT_EQ(rt_store_key_check("a\0/../b", 7, false, &e), RT_EKEY);
    RT_ASSERT_CONTAINS(e.msg, "NUL");
    RT_ASSERT_CONTAINS(e.msg, "\\x00");
}

RT_TEST(key_backslash_refused)
{
    RT_ASSERT_INT_EQ(check("a\\b", false), RT_EKEY);
    RT_ASSERT_INT_EQ(check("..\\..\\x", false), RT_EKEY);
}

RT_TEST(key_invalid_utf8_refused)
{
    const char *bad[] = {"\xff",         "a\x80",    "\xc0\xaf",         "\xe0\x80\xaf",
                         "\xed\xa0\x80", "\xe2\x82", "\xf5\x80\x80\x80", "\xf4\x90\x80\x80",
                         "\xc3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (check(bad[i], false) != RT_EKEY)
            RT_FAIL("accepted invalid UTF-8 #%zu", i);
}

RT_TEST(key_length_limit)
{
    char key[RT_STORE_KEY_MAX + 2];
    memset(key, 'k', sizeof(key));
    key[RT_STORE_KEY_MAX] = '\0';
    RT_ASSERT_OK(check(key, false));
    key[RT_STORE_KEY_MAX] = 'k';
    key[RT_STORE_KEY_MAX + 1] = '\0';
    RT_ASSERT_INT_EQ(check(key, false), RT_EKEY);
}

RT_TEST(key_trailing_slash_only_when_allowed)
{
    RT_ASSERT_INT_EQ(check("a/b/", false), RT_EKEY);
    RT_ASSERT_OK(check("a/b/", true));
}

RT_TEST(key_error_quotes_safely)
{
    struct rt_error e;
    rt_error_clear(&e);
    RT_ASSERT_INT_EQ(rt_store_key_check("x/\n\"evil\"/..", 12, false, &e), RT_EKEY);
    RT_ASSERT(strchr(e.msg, '\n') == NULL);
    RT_ASSERT_CONTAINS(e.msg, "\\x0a");
    RT_ASSERT_CONTAINS(e.msg, "\\\"evil\\\"");
    /* A long hostile key is cut, the message stays bounded. */
    char key[RT_STORE_KEY_MAX + 100];
    memset(key, '\x01', sizeof(key));
    rt_error_clear(&e);
    RT_ASSERT_INT_EQ(rt_store_key_check(key, sizeof(key), false, &e), RT_EKEY);
    RT_ASSERT_CONTAINS(e.msg, "...");
}

static bool label_of(const char *prefix, const char *key, char *out, size_t size)
{
    struct rt_str l = {NULL, 0};
    if (!rt_store_training_label(prefix, key, &l))
        return false;
    RT_ASSERT(l.p >= key && l.p + l.len <= key + strlen(key));
    RT_ASSERT(l.len > 0 && l.len < size);
    memcpy(out, l.p, l.len);
    out[l.len] = '\0';
    return true;
}

RT_TEST(training_label_images)
{
    const char *p = "images_labeled_by_folder/";
    char l[64];
    RT_ASSERT(label_of(p, "images_labeled_by_folder/cat/1.jpg", l, sizeof(l)));
    RT_ASSERT_STR_EQ(l, "cat");
    RT_ASSERT(label_of(p, "images_labeled_by_folder/dog/a.JPEG", l, sizeof(l)));
    RT_ASSERT_STR_EQ(l, "dog");
    RT_ASSERT(label_of(p, "images_labeled_by_folder/big cat/x.PnG", l, sizeof(l)));
    RT_ASSERT_STR_EQ(l, "big cat");
    RT_ASSERT(label_of(p, "images_labeled_by_folder/cat/humanLoopName-l1-x.jpeg", l, sizeof(l)));
    RT_ASSERT(label_of(p, "images_labeled_by_folder/c/.x.png", l, sizeof(l)));
    RT_ASSERT(label_of("", "cat/1.png", l, sizeof(l)));
    RT_ASSERT_STR_EQ(l, "cat");
    RT_ASSERT(label_of(NULL, "cat/1.png", l, sizeof(l)));
    RT_ASSERT(rt_store_training_label(p, "images_labeled_by_folder/cat/1.png", NULL));
}

RT_TEST(training_label_not_images)
{
    const char *p = "images_labeled_by_folder/";
    const char *no[] = {
        "images_labeled_by_folder/",              /* the prefix's own placeholder */
        "images_labeled_by_folder/cat/",          /* a label folder placeholder */
        "images_labeled_by_folder/cat/sub/",      /* nested placeholder */
        "images_labeled_by_folder/cat/sub/1.png", /* nested deeper */
        "images_labeled_by_folder/cat/x.txt",     /* other file */
        "images_labeled_by_folder/cat/x.png.txt", /* other file */
        "images_labeled_by_folder/cat/x.gif",     /* not one of the three */
        "images_labeled_by_folder/cat/xpng",      /* no dot */
        "images_labeled_by_folder/cat/.png",      /* hidden file named only ".png" */
        "images_labeled_by_folder/cat/.JPEG",
        "images_labeled_by_folder/x.png",    /* directly under the prefix: no label */
        "images_labeled_by_folder//x.png",   /* empty label */
        "images_labeled_by_folder/../x.png", /* never a label */
        "images_for_detection/cat/1.png",    /* outside the prefix */
        "images_labeled_by_folde/cat/1.png",
        "",
    };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        struct rt_str l = {NULL, 0};
        if (rt_store_training_label(p, no[i], &l))
            RT_FAIL("counted \"%s\"", no[i]);
    }
    RT_ASSERT(!rt_store_training_label(p, NULL, NULL));
}

RT_TEST(training_label_upper_case_extensions)
{
    const char *keys[] = {"L/a.JPG", "L/a.Jpg", "L/a.JPEG", "L/a.jPeG", "L/a.PNG", "L/a.pnG"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!rt_store_training_label("", keys[i], NULL))
            RT_FAIL("did not count \"%s\"", keys[i]);
}

RT_TEST(label_counts_add_and_cleanup)
{
    struct rt_label_counts c = {0};
    const char *keys[] = {"b", "a", "b", "c", "b"};
    for (size_t i = 0; i < 5; i++)
        RT_ASSERT(rt_label_counts_add(&c, rt_str_c(keys[i])) >= 0);
    RT_ASSERT_INT_EQ(c.n, 3);
    RT_ASSERT_INT_EQ(c.total, 5);
    RT_ASSERT_STR_EQ(c.items[0].name, "b");
    RT_ASSERT_INT_EQ(c.items[0].count, 3);
    RT_ASSERT_INT_EQ(rt_label_counts_add(&c, (struct rt_str){"ab", 1}), 1); /* "a", by length */
    for (int i = 0; i < 40; i++) { /* grows past the first allocation */
        char name[8];
        rt_snprintf(name, sizeof(name), "l%d", i);
        RT_ASSERT(rt_label_counts_add(&c, rt_str_c(name)) >= 0);
    }
    RT_ASSERT_INT_EQ(c.n, 43);
    rt_label_counts_cleanup(&c);
    RT_ASSERT_INT_EQ(c.n, 0);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}
