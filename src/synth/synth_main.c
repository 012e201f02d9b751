/*
 * synth_main.c - retraind-synth: writes deterministic synthetic images for demos and tests.
 *
 *   retraind-synth --label N --index I [--blend M:P] [--format png|jpg] [--size S] -o FILE
 *   retraind-synth --labels a,b[,c,d] --count N [--start I] [--format png|jpg] [--size S]
 *                  --dir DIR
 * The batch form writes DIR/<label>/<label>-<i>.<ext> for i in start..start+count-1, the k-th
 * name of --labels drawing class k; DIR and its missing parents are created. --blend M:P mixes P%
 * of class M's image into every pixel (rt_synth_render_blend): an ambiguous image for the demo.
 * Exit codes: 0 ok, 1 write failure, 2 usage error.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retraind/error.h"
#include "retraind/fsutil.h"
#include "retraind/synth.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: retraind-synth --label N --index I [--blend M:P] [--format png|jpg]\n"
               "                      [--size S] -o FILE\n"
               "       retraind-synth --labels a,b --count N [--start I] [--format png|jpg]\n"
               "                      [--size S] --dir DIR\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int usage_error(const char *what)
{
    fprintf(stderr, "retraind-synth: %s\n", what);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    long label = -1, index = 0, size = 128, count = -1, start = 0, blend_cls = -1, blend_pct = 0;
    const char *out = NULL, *dir = NULL, *labels = NULL, *fmt_name = "png";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v)
            return usage_error("missing value after an option");
        i++;
        if (strcmp(a, "--label") == 0) {
            if (parse_long(v, 0, RT_SYNTH_CLASSES - 1, &label))
                return usage_error("--label must be 0..3");
        } else if (strcmp(a, "--index") == 0) {
            if (parse_long(v, 0, LONG_MAX, &index))
                return usage_error("--index must be a number >= 0");
        } else if (strcmp(a, "--size") == 0) {
            if (parse_long(v, RT_SYNTH_SIZE_MIN, RT_SYNTH_SIZE_MAX, &size))
                return usage_error("--size must be 8..4096");
        } else if (strcmp(a, "--count") == 0) {
            if (parse_long(v, 0, 10000000, &count))
                return usage_error("--count must be 0..10000000");
        } else if (strcmp(a, "--start") == 0) {
            if (parse_long(v, 0, LONG_MAX / 2, &start))
                return usage_error("--start must be a number >= 0");
        } else if (strcmp(a, "--blend") == 0) {
            /* M:P, class M at P percent */
            char m[32];
            const char *colon = strchr(v, ':');
            if (!colon || (size_t)(colon - v) >= sizeof(m))
                return usage_error("--blend must be CLASS:PERCENT (0..3:0..100)");
            memcpy(m, v, (size_t)(colon - v));
            m[colon - v] = '\0';
            if (parse_long(m, 0, RT_SYNTH_CLASSES - 1, &blend_cls) ||
                parse_long(colon + 1, 0, 100, &blend_pct))
                return usage_error("--blend must be CLASS:PERCENT (0..3:0..100)");
        } else if (strcmp(a, "--format") == 0) {
            fmt_name = v;
        } else if (strcmp(a, "-o") == 0) {
            out = v;
        } else if (strcmp(a, "--dir") == 0) {
            dir = v;
        } else if (strcmp(a, "--labels") == 0) {
            labels = v;
        } else {
            return usage_error("unknown option");
        }
    }
    enum rt_synth_format fmt;
    if (rt_synth_format_parse(fmt_name, &fmt) != 0)
        return usage_error("--format must be png or jpg");
    const char *ext = fmt == RT_SYNTH_JPEG ? "jpg" : "png";
    struct rt_error err;
    rt_error_clear(&err);

    if (out) {
        if (label < 0 || labels || dir)
            return usage_error("single mode needs --label and -o (and no --labels/--dir)");
        if (rt_synth_write_blend_file(out, (int)label, blend_cls < 0 ? (int)label : (int)blend_cls,
                                      (int)blend_pct, (uint64_t)index, (int)size, fmt, &err) != 0) {
            fprintf(stderr, "retraind-synth: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    if (!labels || !dir || count < 0)
        return usage_error("batch mode needs --labels, --count and --dir");
    if (blend_cls >= 0)
        return usage_error("--blend is for single mode (-o FILE)");

    char names[RT_SYNTH_CLASSES][128];
    int n_names = 0;
    const char *p = labels;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 0 || n >= sizeof(names[0]) || n_names == RT_SYNTH_CLASSES)
            return usage_error("--labels takes 1 to 4 non-empty names separated by commas");
        memcpy(names[n_names], p, n);
        names[n_names][n] = '\0';
        if (strchr(names[n_names], '/') || strcmp(names[n_names], ".") == 0 ||
            strcmp(names[n_names], "..") == 0)
            return usage_error("a label name may not contain '/' or be . or ..");
        n_names++;
        p += n + (comma ? 1 : 0);
        if (comma && !*p)
            return usage_error("--labels ends with a comma");
    }
    for (int k = 0; k < n_names; k++) {
        char path[4096];
        if (snprintf(path, sizeof(path), "%s/%s", dir, names[k]) >= (int)sizeof(path))
            return usage_error("path too long");
        /* DIR and its missing parents too: `--dir demo/bucket/images_labeled_by_folder` on a
         * fresh checkout must just work, as mkdir -p would. */
        int rc = rt_mkdir_p(path, 0755);
        if (rc) {
            fprintf(stderr, "retraind-synth: cannot create the folder %s: %s\n", path,
                    rt_strerror(rc));
            return 1;
        }
        for (long i = start; i < start + count; i++) {
            if (snprintf(path, sizeof(path), "%s/%s/%s-%ld.%s", dir, names[k], names[k], i, ext) >=
                (int)sizeof(path))
                return usage_error("path too long");
            if (rt_synth_write_file(path, k, (uint64_t)i, (int)size, fmt, &err) != 0) {
                fprintf(stderr, "retraind-synth: %s\n", err.msg);
                return 1;
            }
        }
    }
    return 0;
}
