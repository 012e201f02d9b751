/*
 * paramdef.h - the ten runtime parameters: names, types, bounds, defaults, parsing.
 *
 * Pure data and parsing, used by the config parser (parameters.defaults), the params drivers
 * (local journal, ssm) and the CLI. The names are the reference solution's, so an existing
 * deployment's Parameter Store carries over.
 */
#ifndef RETRAIND_PARAMDEF_H
#define RETRAIND_PARAMDEF_H

#include <stdbool.h>
#include <stdint.h>

#include "retraind/buf.h"
#include "retraind/error.h"

enum rt_param_id {
    RT_P_ENABLE_TRAINING = 0, /* Enable-Automatic-Training */
    RT_P_TRAINING_POLL,       /* Automatic-Training-Poll-Frequency */
    RT_P_MIN_UNTRAINED,       /* Minimum-Untrained-Images */
    RT_P_MIN_F1,              /* Minimum-F1-Score */
    RT_P_MIN_INFERENCE_UNITS, /* Minimum-Inference-Units */
    RT_P_MIN_CONFIDENCE,      /* Minimum-Label-Detection-Confidence */
    RT_P_ENABLE_A2I,          /* Enable-A2I-Workflow */
    RT_P_ENABLE_SAMPLING,     /* Enable-Automatic-Human-Sampling */
    RT_P_SAMPLING_FREQ,       /* Automatic-Human-Sampling-Frequency */
    RT_P_SAMPLING_INTERVAL,   /* Human-Sampling-Interval */
    RT_P_COUNT
};

enum rt_param_type {
    RT_PT_BOOL,
    RT_PT_INT,
    RT_PT_FLOAT,
    RT_PT_MINUTES /* duration: a bare whole number is minutes, or Ns / Nm / Nh */
};

struct rt_param_def {
    enum rt_param_id id;
    const char *name;
    enum rt_param_type type;
    const char *default_text;
    double min, max; /* inclusive bounds for INT and FLOAT; for MINUTES, in milliseconds */
    const char *help;
};

/* Where a value comes from (`params list` shows it). */
enum rt_param_source {
    RT_PSRC_TABLE = 0, /* the built-in default of the table below */
    RT_PSRC_CONFIG,    /* parameters.defaults in the config file */
    RT_PSRC_SET        /* set by people: params set, the API, or Parameter Store */
};
/* Returns: "default", "config" or "set". */
const char *rt_param_source_name(enum rt_param_source s);

struct rt_param_value {
    enum rt_param_type type;
    enum rt_param_source source; /* rt_param_parse leaves RT_PSRC_TABLE; owners set the rest */
    bool b;
    int64_t i;     /* RT_PT_INT */
    double f;      /* RT_PT_FLOAT */
    int64_t ms;    /* RT_PT_MINUTES, in milliseconds */
    bool has_unit; /* RT_PT_MINUTES written with s/m/h: JSON shows the text as set */
    char text[32]; /* canonical text of the value, as stored and shown */
};

/* One full set of values, indexed by enum rt_param_id. */
struct rt_param_set {
    struct rt_param_value v[RT_P_COUNT];
};

/* Returns: the table entry of id (never NULL for a valid id). */
const struct rt_param_def *rt_param_def_by_id(enum rt_param_id id);
/* Returns: the entry named name (exact, case-sensitive), or NULL. */
const struct rt_param_def *rt_param_def_by_name(const char *name);

/*
 * Parses text as a value of def: booleans are "true"/"false" only; INT and FLOAT must be in
 * [min, max]; MINUTES is a positive whole number of minutes or "30s"/"10m"/"1h".
 * Returns: 0, or RT_EINVAL with err saying which parameter and why (out unchanged).
 */
int rt_param_parse(const struct rt_param_def *def,
                   const char *text,
                   struct rt_param_value *out,
                   struct rt_error *err);
/* Fills set with every default. */
void rt_param_set_defaults(struct rt_param_set *set);
/* Appends the value as typed JSON: true/false, a number, or for a duration with a unit the
 * string as set ("2s"). Returns: 0 or an rt_buf error. */
int rt_param_value_json(const struct rt_param_value *v, struct rt_buf *out);

#endif
