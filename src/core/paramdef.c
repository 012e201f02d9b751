/*
 * paramdef.c - the parameter table and value parsing (see paramdef.h).
 */
#include "retraind/paramdef.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MIN_MS (60 * 1000.0)
#define WEEK_MS (7 * 24 * 3600 * 1000.0)

static const struct rt_param_def defs[RT_P_COUNT] = {
    [RT_P_ENABLE_TRAINING] = {RT_P_ENABLE_TRAINING, "Enable-Automatic-Training", RT_PT_BOOL, "true",
                              0, 1, "the scheduled training check runs"},
    [RT_P_TRAINING_POLL] = {RT_P_TRAINING_POLL, "Automatic-Training-Poll-Frequency", RT_PT_MINUTES,
                            "600", 1000, WEEK_MS, "how often the check runs"},
    [RT_P_MIN_UNTRAINED] = {RT_P_MIN_UNTRAINED, "Minimum-Untrained-Images", RT_PT_INT, "10", 1, 1e9,
                            "new images needed since the last successful training"},
    [RT_P_MIN_F1] = {RT_P_MIN_F1, "Minimum-F1-Score", RT_PT_FLOAT, "0.8", 0, 1,
                     "a trained version below it is not deployed"},
    [RT_P_MIN_INFERENCE_UNITS] = {RT_P_MIN_INFERENCE_UNITS, "Minimum-Inference-Units", RT_PT_INT,
                                  "1", 1, 1000, "inference units the deployed version starts with"},
    [RT_P_MIN_CONFIDENCE] = {RT_P_MIN_CONFIDENCE, "Minimum-Label-Detection-Confidence", RT_PT_FLOAT,
                             "70", 0, 100, "below it a detection goes to review"},
    [RT_P_ENABLE_A2I] = {RT_P_ENABLE_A2I, "Enable-A2I-Workflow", RT_PT_BOOL, "true", 0, 1,
                         "low-confidence detections create review tasks"},
    [RT_P_ENABLE_SAMPLING] = {RT_P_ENABLE_SAMPLING, "Enable-Automatic-Human-Sampling", RT_PT_BOOL,
                              "false", 0, 1, "audit sampling runs"},
    [RT_P_SAMPLING_FREQ] = {RT_P_SAMPLING_FREQ, "Automatic-Human-Sampling-Frequency", RT_PT_MINUTES,
                            "60", 1000, WEEK_MS, "how often sampling runs"},
    [RT_P_SAMPLING_INTERVAL] = {RT_P_SAMPLING_INTERVAL, "Human-Sampling-Interval", RT_PT_INT, "10",
                                1, 1e9, "sample every Nth detection"},
};

const struct rt_param_def *rt_param_def_by_id(enum rt_param_id id)
{
    return (unsigned)id < RT_P_COUNT ? &defs[id] : NULL;
}

const struct rt_param_def *rt_param_def_by_name(const char *name)
{
    for (int i = 0; i < RT_P_COUNT; i++)
        if (strcmp(defs[i].name, name) == 0)
            return &defs[i];
    return NULL;
}

static bool parse_whole(const char *s, int64_t *out)
{
    if (!*s)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno)
        return false;
    *out = v;
    return true;
}

int rt_param_parse(const struct rt_param_def *def,
                   const char *text,
                   struct rt_param_value *out,
                   struct rt_error *err)
{
    struct rt_param_value v;
    memset(&v, 0, sizeof(v));
    v.type = def->type;
    if (!text || strlen(text) >= sizeof(v.text))
        return rt_error_set(err, RT_EINVAL, "%s: value is missing or too long", def->name);
    switch (def->type) {
    case RT_PT_BOOL:
        if (strcmp(text, "true") == 0)
            v.b = true;
        else if (strcmp(text, "false") != 0)
            return rt_error_set(err, RT_EINVAL, "%s: \"%s\" is not a boolean (true or false)",
                                def->name, text);
        break;
    case RT_PT_INT: {
        const char *digits = text[0] == '-' ? text + 1 : text;
        int64_t n;
        if (!parse_whole(digits, &n))
            return rt_error_set(err, RT_EINVAL, "%s: \"%s\" is not a whole number", def->name,
                                text);
        if (text[0] == '-')
            n = -n;
        if (n < def->min || n > def->max)
            return rt_error_set(err, RT_EINVAL, "%s: %lld is out of range (%.0f..%.0f)", def->name,
                                (long long)n, def->min, def->max);
        v.i = n;
        break;
    }
    case RT_PT_FLOAT: {
        char *end = NULL;
        errno = 0;
        double d = strtod(text, &end);
        if (errno || end == text || *end != '\0' || !isfinite(d))
            return rt_error_set(err, RT_EINVAL, "%s: \"%s\" is not a number", def->name, text);
        if (d < def->min || d > def->max)
            return rt_error_set(err, RT_EINVAL, "%s: %s is out of range (%g..%g)", def->name, text,
                                def->min, def->max);
        v.f = d;
        break;
    }
    case RT_PT_MINUTES: {
        size_t n = strlen(text);
        char num[32];
        double unit_ms = MIN_MS;
        memcpy(num, text, n + 1);
        if (n > 0 && strchr("smh", text[n - 1])) {
            unit_ms = text[n - 1] == 's' ? 1000.0 : text[n - 1] == 'm' ? MIN_MS : 3600 * 1000.0;
            num[n - 1] = '\0';
            v.has_unit = true;
        }
        int64_t k;
        if (!parse_whole(num, &k) || k > 1000000000)
            return rt_error_set(
                err, RT_EINVAL,
                "%s: \"%s\" is not a duration (whole minutes, or like 30s, 10m, 1h)", def->name,
                text);
        double ms = (double)k * unit_ms;
        if (ms < def->min || ms > def->max)
            return rt_error_set(err, RT_EINVAL, "%s: %s is out of range (1s..7 days)", def->name,
                                text);
        v.ms = (int64_t)ms;
        break;
    }
    }
    rt_strlcpy(v.text, text, sizeof(v.text));
    *out = v;
    return 0;
}

void rt_param_set_defaults(struct rt_param_set *set)
{
    for (int i = 0; i < RT_P_COUNT; i++) {
        int rc = rt_param_parse(&defs[i], defs[i].default_text, &set->v[i], NULL);
        (void)rc; /* the table's defaults are valid; test_core checks it */
    }
}

int rt_param_value_json(const struct rt_param_value *v, struct rt_buf *out)
{
    switch (v->type) {
    case RT_PT_BOOL:
        return rt_buf_append_str(out, v->b ? "true" : "false");
    case RT_PT_INT:
        return rt_buf_printf(out, "%lld", (long long)v->i);
    case RT_PT_FLOAT:
        return rt_buf_printf(out, "%.15g", v->f);
    case RT_PT_MINUTES:
        if (v->has_unit)
            return rt_buf_printf(out, "\"%s\"", v->text);
        return rt_buf_printf(out, "%lld", (long long)(v->ms / 60000));
    }
    return RT_EINVAL;
}

const char *rt_param_source_name(enum rt_param_source s)
{
    switch (s) {
    case RT_PSRC_CONFIG:
        return "config";
    case RT_PSRC_SET:
        return "set";
    default:
        return "default";
    }
}
