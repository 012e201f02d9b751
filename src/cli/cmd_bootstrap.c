/*
 * cmd_bootstrap.c - `retraind bootstrap -c FILE [--labels a,b]`: creates what the config names
 * and is missing, and says what it found already there (docs/bootstrap.md).
 *
 * Design: idempotent and never destructive. Each thing is looked at first and made only when it
 * is absent, one line each: "created ..." or "exists  ...". A value that exists is never written
 * again: SSM parameters are put with Overwrite false (ParameterAlreadyExists means "exists"),
 * For-System-Use-Only only gains the keys it lacks (the keys retraind does not know are kept),
 * an existing flow definition is left as it is. So a deployment of the reference solution keeps
 * every value it has. Steps that do not depend on each other go on after a failure; the exit
 * code is 1 when any failed.
 *
 *   store       local: the prefix folders; s3: a zero-byte placeholder "<prefix>" for every prefix
 *               that holds no key yet (PutObject If-None-Match: *)
 *   parameters  local: the journal (values not set keep reading the config's defaults, so no
 *               default is written); ssm: the ten parameters with the config's defaults
 *   engine      rekognition: the project named by engine.project (CreateProject); an ARN must
 *               exist already
 *   review      a2i: the human task UI (crowd-image-classifier with the labels found under
 *               images_labeled_by_folder/ or --labels, plus None of the Above) and the flow
 *               definition (review.workteam_arn, review.role_arn, output
 *               s3://<bucket>/<human_loop prefix>)
 *   system      ssm: For-System-Use-Only with s3_bucket, rekognition_project_arn,
 *               flow_definition_arn, sns-topic and previous_trained_images
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "retraind/alloc.h"
#include "retraind/config.h"
#include "retraind/fsutil.h"
#include "retraind/journal.h"
#include "setup.h"

#define SYSTEM_NAME "For-System-Use-Only"
#define NONE_OF_THE_ABOVE "None of the Above"
/* crowd-image-classifier shows at most 10 categories; one is None of the Above. */
#define MAX_LABELS 9

struct boot {
    struct rt_setup s;
    const struct rt_config *cfg;
    const char *labels_opt; /* --labels, or NULL */
    int failures;
    char project_arn[512];
    char flow_arn[512];
};

static void say(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const char *verb, const char *fmt, ...)
{
    printf("%-7s ", verb);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void failed(struct boot *b, const char *what, const char *why)
{
    b->failures++;
    fflush(stdout);
    fprintf(stderr, "retraind bootstrap: %s: %s\n", what, why);
}

static void failed_reply(struct boot *b, const char *what, const struct rt_setup_reply *r)
{
    char why[800];
    failed(b, what, rt_setup_why(r, why, sizeof(why)));
}

static void failed_err(struct boot *b, const char *what, const struct rt_error *err, int rc)
{
    char why[800];
    if (err->code)
        rt_error_format(err, why, sizeof(why));
    else
        rt_strlcpy(why, rt_strerror(rc), sizeof(why));
    failed(b, what, why);
}

static const char *bucket_of(const struct rt_config *cfg)
{
    return cfg->store.driver == RT_STORE_S3 ? cfg->store.bucket : cfg->store.name;
}

/* ---- the store ---- */

static void prefixes_of(const struct rt_config *cfg, const char *out[7])
{
    const struct rt_config_prefixes *p = &cfg->store.prefixes;
    const char *all[7] = {p->labeled,    p->detection,  p->results,  p->manifests,
                          p->evaluation, p->human_loop, p->unlabeled};
    memcpy(out, all, sizeof(all));
}

static void store_local(struct boot *b)
{
    const char *prefixes[7];
    prefixes_of(b->cfg, prefixes);
    for (int i = 0; i < 7; i++) {
        char path[4200];
        if (rt_snprintf(path, sizeof(path), "%s/%s", b->cfg->store.root, prefixes[i]) != 0) {
            failed(b, prefixes[i], "the store's root is too long");
            continue;
        }
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            say("exists", "folder %s", path);
            continue;
        }
        int rc = rt_mkdir_p(path, 0755);
        if (rc) {
            failed(b, path, rt_strerror(rc));
            continue;
        }
        say("created", "folder %s", path);
    }
}

static void store_s3(struct boot *b)
{
    const char *bucket = b->cfg->store.bucket;
    const char *prefixes[7];
    prefixes_of(b->cfg, prefixes);
    for (int i = 0; i < 7; i++) {
        const char *p = prefixes[i];
        char what[1200];
        rt_snprintf(what, sizeof(what), "s3://%s/%s", bucket, p);
        struct rt_setup_reply r;
        struct rt_aws_params hp = {.bucket = bucket, .key = p};
        int rc = rt_setup_call(&b->s, &rt_aws_s3_head_object_op, &hp, &r);
        bool absent = rc && r.err.http_status == 404;
        if (rc && !absent) {
            failed_reply(b, what, &r);
            rt_setup_reply_cleanup(&r);
            continue;
        }
        rt_setup_reply_cleanup(&r);
        if (!rc) {
            say("exists", "placeholder %s", what);
            continue;
        }
        /* No placeholder: a prefix that already holds keys needs none. */
        char *keys[1];
        size_t n = 0;
        struct rt_error err;
        rt_error_clear(&err);
        if ((rc = rt_setup_store_list(&b->s, p, 1, keys, &n, &err))) {
            failed_err(b, what, &err, rc);
            continue;
        }
        if (n) {
            rt_free(keys[0]);
            say("exists", "prefix %s (it holds keys)", what);
            continue;
        }
        struct rt_aws_header only_new = {"If-None-Match", "*"};
        struct rt_aws_params pp = {.bucket = bucket,
                                   .key = p,
                                   .body = "",
                                   .body_len = 0,
                                   .content_type = "application/x-directory",
                                   .headers = &only_new,
                                   .n_headers = 1};
        rc = rt_setup_call(&b->s, &rt_aws_s3_put_object_op, &pp, &r);
        if (!rc)
            say("created", "placeholder %s", what);
        else if (r.err.http_status == 412)
            say("exists", "placeholder %s", what);
        else
            failed_reply(b, what, &r);
        rt_setup_reply_cleanup(&r);
    }
}

/* ---- parameters ---- */

static void params_local(struct boot *b)
{
    char path[4200];
    rt_snprintf(path, sizeof(path), "%s/%s", b->cfg->data_dir, RT_JOURNAL_FILE);
    struct stat st;
    if (stat(path, &st) == 0) {
        say("exists", "journal %s", path);
    } else {
        struct rt_journal *j = NULL;
        struct rt_error err;
        rt_error_clear(&err);
        int rc = rt_journal_open(b->cfg->data_dir, RT_JOURNAL_READWRITE, &j, &err);
        if (rc) {
            failed_err(b, path, &err, rc);
            return;
        }
        rt_journal_close(j);
        say("created", "journal %s", path);
    }
    /* The local driver keeps only values people set; the others are the config's defaults,
     * read at every load. Writing the defaults would freeze them. */
    say("exists", "parameters (local: unset ones read the config's defaults; nothing to write)");
}

static void params_ssm(struct boot *b)
{
    for (int i = 0; i < RT_P_COUNT; i++) {
        const struct rt_param_def *def = rt_param_def_by_id((enum rt_param_id)i);
        char name[1200];
        rt_snprintf(name, sizeof(name), "%s%s", b->cfg->parameters.path, def->name);
        const char *value = b->cfg->parameters.defaults.v[i].text;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "Name", name);
        cJSON_AddStringToObject(o, "Value", value);
        cJSON_AddStringToObject(o, "Type", "String");
        cJSON_AddBoolToObject(o, "Overwrite", false);
        struct rt_setup_reply r;
        int rc = rt_setup_json(&b->s, &rt_aws_ssm_put_parameter_op, o, NULL, &r);
        if (!rc)
            say("created", "parameter %s = %s", name, value);
        else if (rt_setup_failed_with(&r, "ParameterAlreadyExists"))
            say("exists", "parameter %s", name);
        else
            failed_reply(b, name, &r);
        rt_setup_reply_cleanup(&r);
    }
}

/* ---- the Rekognition project ---- */

/* Finds the project named name (or whose ARN is arn). Returns: 0 and arn_out, RT_ENOTFOUND, or
 * an error after saying it. */
static int
find_project(struct boot *b, const char *name, const char *arn, char *arn_out, size_t size)
{
    char token[2048] = "";
    for (int page = 0; page < 1000; page++) {
        cJSON *o = cJSON_CreateObject();
        if (name)
            cJSON_AddItemToObject(o, "ProjectNames", cJSON_CreateStringArray(&name, 1));
        else
            cJSON_AddNumberToObject(o, "MaxResults", 100);
        if (token[0])
            cJSON_AddStringToObject(o, "NextToken", token);
        struct rt_setup_reply r;
        cJSON *reply = NULL;
        int rc = rt_setup_json(&b->s, &rt_aws_rekognition_describe_projects_op, o, &reply, &r);
        if (rc) {
            failed_reply(b, name ? name : arn, &r);
            rt_setup_reply_cleanup(&r);
            return rc;
        }
        rt_setup_reply_cleanup(&r);
        const cJSON *d;
        cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(reply, "ProjectDescriptions"))
        {
            const char *a = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "ProjectArn"));
            /* arn:aws:rekognition:<region>:<account>:project/<name>/<created> */
            const char *p = a ? strstr(a, ":project/") : NULL;
            bool match = a && (arn ? strcmp(a, arn) == 0
                                   : p && strncmp(p + 9, name, strlen(name)) == 0 &&
                                         p[9 + strlen(name)] == '/');
            if (match) {
                rt_strlcpy(arn_out, a, size);
                cJSON_Delete(reply);
                return 0;
            }
        }
        const char *next =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "NextToken"));
        bool more = next && next[0] && rt_strlcpy(token, next, sizeof(token)) == 0;
        cJSON_Delete(reply);
        if (!more)
            break;
    }
    return RT_ENOTFOUND;
}

static void engine_rekognition(struct boot *b)
{
    const char *project = b->cfg->engine.project;
    bool is_arn = strncmp(project, "arn:", 4) == 0;
    char arn[512];
    int rc = find_project(b, is_arn ? NULL : project, is_arn ? project : NULL, arn, sizeof(arn));
    if (rc == 0) {
        rt_strlcpy(b->project_arn, arn, sizeof(b->project_arn));
        if (is_arn)
            say("exists", "rekognition project %s", arn);
        else
            say("exists", "rekognition project %s (%s)", project, arn);
        return;
    }
    if (rc != RT_ENOTFOUND)
        return; /* said */
    if (is_arn) {
        failed(b, project,
               "no such Rekognition project; bootstrap creates a project by name only (set "
               "engine.project to a name, or create it in the console)");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ProjectName", project);
    struct rt_setup_reply r;
    cJSON *reply = NULL;
    rc = rt_setup_json(&b->s, &rt_aws_rekognition_create_project_op, o, &reply, &r);
    const char *a = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "ProjectArn"));
    if (!rc && a) {
        rt_strlcpy(b->project_arn, a, sizeof(b->project_arn));
        say("created", "rekognition project %s (%s)", project, a);
    } else if (rt_setup_failed_with(&r, "ResourceInUseException")) {
        say("exists", "rekognition project %s", project); /* made meanwhile */
        find_project(b, project, NULL, b->project_arn, sizeof(b->project_arn));
    } else if (!rc) {
        failed(b, project, "CreateProject answered without a ProjectArn");
    } else {
        failed_reply(b, project, &r);
    }
    cJSON_Delete(reply);
    rt_setup_reply_cleanup(&r);
}

/* ---- the human task UI and the flow definition ---- */

struct labels {
    char *v[MAX_LABELS + 1];
    int n;
    bool too_many;
    const char *prefix;
};

static void labels_free(struct labels *l)
{
    for (int i = 0; i < l->n; i++)
        rt_free(l->v[i]);
    l->n = 0;
}

/* Returns: NULL when label can go into the template, else why not. */
static const char *label_refused(const char *label)
{
    if (!label[0])
        return "an empty label";
    if (strlen(label) > 128)
        return "longer than 128 bytes";
    for (const unsigned char *p = (const unsigned char *)label; *p; p++)
        if (*p < 0x20 || *p == 0x7f || strchr("'\"\\<>&`{}", *p))
            return "it holds a quote, backslash, brace, <, >, & or a control character";
    if (strcmp(label, NONE_OF_THE_ABOVE) == 0)
        return "None of the Above is added by bootstrap";
    return NULL;
}

static int labels_add(struct labels *l, const char *label, size_t len)
{
    for (int i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == len && memcmp(l->v[i], label, len) == 0)
            return 0;
    if (l->n >= MAX_LABELS) {
        l->too_many = true;
        return 1;
    }
    char *c = rt_malloc(len + 1);
    if (!c)
        return RT_ENOMEM;
    memcpy(c, label, len);
    c[len] = '\0';
    l->v[l->n++] = c;
    return 0;
}

static int label_of_key(const char *key, void *ud)
{
    struct labels *l = ud;
    size_t plen = strlen(l->prefix);
    if (strncmp(key, l->prefix, plen) != 0)
        return 0;
    const char *rest = key + plen;
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest)
        return 0;
    return labels_add(l, rest, (size_t)(slash - rest));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fills l from --labels or the store. Returns: 0, or a failure after saying it. */
static int find_labels(struct boot *b, struct labels *l)
{
    const char *what = "human task UI labels";
    if (b->labels_opt) {
        const char *p = b->labels_opt;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            while (len && (*p == ' '))
                p++, len--;
            while (len && p[len - 1] == ' ')
                len--;
            if (len && labels_add(l, p, len) < 0)
                return RT_ENOMEM;
            p = comma ? comma + 1 : p + strlen(p);
        }
    } else {
        l->prefix = b->cfg->store.prefixes.labeled;
        struct rt_error err;
        rt_error_clear(&err);
        int rc = rt_setup_store_each(&b->s, l->prefix, label_of_key, l, &err);
        if (rc) {
            failed_err(b, what, &err, rc);
            return rc;
        }
    }
    if (l->too_many) {
        failed(b, what,
               "more than 9 labels; crowd-image-classifier shows at most 10 categories with "
               "None of the Above (pass --labels a,b,... to choose)");
        return RT_EINVAL;
    }
    if (l->n == 0) {
        char why[1200];
        rt_snprintf(why, sizeof(why),
                    "no labels found under %s and no --labels given (pass --labels a,b)",
                    b->cfg->store.prefixes.labeled);
        failed(b, what, why);
        return RT_EINVAL;
    }
    for (int i = 0; i < l->n; i++) {
        const char *why = label_refused(l->v[i]);
        if (why) {
            char msg[600];
            rt_snprintf(msg, sizeof(msg), "label \"%s\" cannot go into the template: %s", l->v[i],
                        why);
            failed(b, what, msg);
            return RT_EINVAL;
        }
    }
    qsort(l->v, (size_t)l->n, sizeof(l->v[0]), cmp_str);
    return 0;
}

/* The worker template (aws-wire.md 4.3): the answer is at
 * answerContent["crowd-image-classifier"].label, as the a2i review driver reads it. */
static char *task_template(const struct labels *l)
{
    struct rt_buf t;
    rt_buf_init(&t, 128000);
    rt_buf_append_str(&t,
                      "<script src=\"https://assets.crowd.aws/crowd-html-elements.js\"></script>\n"
                      "\n"
                      "<crowd-form>\n"
                      "  <crowd-image-classifier\n"
                      "    name=\"crowd-image-classifier\"\n"
                      "    src=\"{{ task.input.taskObject | grant_read_access }}\"\n"
                      "    header=\"Which label fits this image?\"\n"
                      "    categories=\"[");
    for (int i = 0; i < l->n; i++)
        rt_buf_printf(&t, "'%s', ", l->v[i]);
    rt_buf_append_str(
        &t, "'" NONE_OF_THE_ABOVE "']\"\n"
            "  >\n"
            "    <full-instructions header=\"Instructions\">\n"
            "      <p>Pick the label that describes the image. The model said\n"
            "      <strong>{{ task.input.detectedLabel }}</strong>\n"
            "      ({{ task.input.detectedConfidenceLevel }}% sure).</p>\n"
            "      <p>If no label fits, pick <strong>" NONE_OF_THE_ABOVE "</strong>: the image\n"
            "      is then left out of the training data.</p>\n"
            "    </full-instructions>\n"
            "    <short-instructions>\n"
            "      <p>Pick the label that fits the image, or " NONE_OF_THE_ABOVE ".</p>\n"
            "    </short-instructions>\n"
            "  </crowd-image-classifier>\n"
            "</crowd-form>\n");
    return rt_buf_detach(&t);
}

/* The flow definition's name (review.flow_definition may also be an ARN: the part after the last
 * '/'), and the task UI's: <prefix>-task-ui for a flow named <prefix>-flow-definition (the
 * reference solution's names), else <flow>-task-ui, cut to 63 characters. */
static void flow_names(const char *flow, char *name, size_t nsize, char *ui, size_t usize)
{
    const char *n = flow;
    if (strncmp(flow, "arn:", 4) == 0 && strrchr(flow, '/'))
        n = strrchr(flow, '/') + 1;
    rt_strlcpy(name, n, nsize);
    const char *suffix = "-flow-definition";
    size_t len = strlen(name), slen = strlen(suffix);
    size_t keep = len > slen && strcmp(name + len - slen, suffix) == 0 ? len - slen : len;
    if (keep > 63 - 8)
        keep = 63 - 8;
    while (keep && name[keep - 1] == '-')
        keep--;
    rt_snprintf(ui, usize, "%.*s-task-ui", (int)keep, name);
}

/* Returns: 0 and the UI's ARN, or a failure after saying it. */
static int task_ui(struct boot *b, const char *ui, char *arn, size_t size)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "HumanTaskUiName", ui);
    struct rt_setup_reply r;
    cJSON *reply = NULL;
    int rc = rt_setup_json(&b->s, &rt_aws_sagemaker_describe_human_task_ui_op, o, &reply, &r);
    const char *a = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "HumanTaskUiArn"));
    if (!rc && a) {
        rt_strlcpy(arn, a, size);
        say("exists", "human task UI %s (%s)", ui, a);
    } else if (!rc || !rt_setup_failed_with(&r, "ResourceNotFound")) {
        if (rc)
            failed_reply(b, ui, &r);
        else
            failed(b, ui, "DescribeHumanTaskUi answered without a HumanTaskUiArn");
        rc = rc ? rc : RT_EPARSE;
    } else {
        rc = 1; /* to create */
    }
    cJSON_Delete(reply);
    rt_setup_reply_cleanup(&r);
    if (rc <= 0)
        return rc;

    struct labels l = {0};
    if ((rc = find_labels(b, &l))) {
        labels_free(&l);
        return rc;
    }
    char *content = task_template(&l);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "HumanTaskUiName", ui);
    cJSON *tpl = cJSON_AddObjectToObject(o, "UiTemplate");
    cJSON_AddStringToObject(tpl, "Content", content ? content : "");
    rt_free(content);
    reply = NULL;
    rc = rt_setup_json(&b->s, &rt_aws_sagemaker_create_human_task_ui_op, o, &reply, &r);
    a = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "HumanTaskUiArn"));
    if (!rc && a) {
        rt_strlcpy(arn, a, size);
        struct rt_buf names;
        rt_buf_init(&names, 4096);
        for (int i = 0; i < l.n; i++)
            rt_buf_printf(&names, "%s, ", l.v[i]);
        say("created", "human task UI %s (%s; labels %s" NONE_OF_THE_ABOVE ")", ui, a,
            names.data ? names.data : "");
        rt_buf_cleanup(&names);
    } else {
        if (rc)
            failed_reply(b, ui, &r);
        else
            failed(b, ui, "CreateHumanTaskUi answered without a HumanTaskUiArn");
        rc = rc ? rc : RT_EPARSE;
    }
    labels_free(&l);
    cJSON_Delete(reply);
    rt_setup_reply_cleanup(&r);
    return rc;
}

static void review_a2i(struct boot *b)
{
    const struct rt_config *cfg = b->cfg;
    char name[256], ui[128];
    flow_names(cfg->review.flow_definition, name, sizeof(name), ui, sizeof(ui));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "FlowDefinitionName", name);
    struct rt_setup_reply r;
    cJSON *reply = NULL;
    int rc = rt_setup_json(&b->s, &rt_aws_sagemaker_describe_flow_definition_op, o, &reply, &r);
    const char *a =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "FlowDefinitionArn"));
    bool missing = rc && rt_setup_failed_with(&r, "ResourceNotFound");
    if (!rc && a) {
        rt_strlcpy(b->flow_arn, a, sizeof(b->flow_arn));
        const char *out = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(reply, "OutputConfig"), "S3OutputPath"));
        say("exists", "flow definition %s (%s, output %s)", name, a, out ? out : "?");
    } else if (!missing) {
        if (rc)
            failed_reply(b, name, &r);
        else
            failed(b, name, "DescribeFlowDefinition answered without a FlowDefinitionArn");
    }
    cJSON_Delete(reply);
    rt_setup_reply_cleanup(&r);
    if (!missing)
        return;

    if (!cfg->review.workteam_arn || !cfg->review.role_arn) {
        failed(b, name,
               "the flow definition does not exist, and creating it needs review.workteam_arn "
               "(the private work team) and review.role_arn (a role A2I assumes to read the "
               "images and write the answers) in the config");
        return;
    }
    char ui_arn[512];
    if (task_ui(b, ui, ui_arn, sizeof(ui_arn)))
        return;
    char output[1200];
    rt_snprintf(output, sizeof(output), "s3://%s/%s", bucket_of(cfg),
                cfg->store.prefixes.human_loop);
    int workers = cfg->review.workers_per_image;
    workers = workers < 1 ? 1 : workers > 3 ? 3 : workers;
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "FlowDefinitionName", name);
    cJSON *h = cJSON_AddObjectToObject(o, "HumanLoopConfig");
    cJSON_AddStringToObject(h, "WorkteamArn", cfg->review.workteam_arn);
    cJSON_AddStringToObject(h, "HumanTaskUiArn", ui_arn);
    cJSON_AddStringToObject(h, "TaskTitle", "Which label fits this image?");
    cJSON_AddStringToObject(h, "TaskDescription",
                            "Pick the label that describes the image, or None of the Above. "
                            "The answers teach retraind's model.");
    cJSON_AddNumberToObject(h, "TaskCount", workers);
    cJSON *oc = cJSON_AddObjectToObject(o, "OutputConfig");
    cJSON_AddStringToObject(oc, "S3OutputPath", output);
    cJSON_AddStringToObject(o, "RoleArn", cfg->review.role_arn);
    reply = NULL;
    rc = rt_setup_json(&b->s, &rt_aws_sagemaker_create_flow_definition_op, o, &reply, &r);
    a = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "FlowDefinitionArn"));
    if (!rc && a) {
        rt_strlcpy(b->flow_arn, a, sizeof(b->flow_arn));
        say("created", "flow definition %s (%s, output %s)", name, a, output);
    } else if (rc) {
        failed_reply(b, name, &r);
    } else {
        failed(b, name, "CreateFlowDefinition answered without a FlowDefinitionArn");
    }
    cJSON_Delete(reply);
    rt_setup_reply_cleanup(&r);
}

/* ---- For-System-Use-Only ---- */

/* The keys bootstrap knows values for, as the reference solution names them. */
static cJSON *system_keys(const struct boot *b)
{
    const struct rt_config *cfg = b->cfg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "s3_bucket", bucket_of(cfg));
    if (b->project_arn[0])
        cJSON_AddStringToObject(o, "rekognition_project_arn", b->project_arn);
    if (b->flow_arn[0])
        cJSON_AddStringToObject(o, "flow_definition_arn", b->flow_arn);
    for (int i = 0; i < cfg->n_notify; i++)
        if (cfg->notify[i].driver == RT_NOTIFY_SNS && cfg->notify[i].topic_arn) {
            cJSON_AddStringToObject(o, "sns-topic", cfg->notify[i].topic_arn);
            break;
        }
    cJSON_AddNumberToObject(o, "previous_trained_images", 0);
    return o;
}

/* Puts value (JSON) as parameter name. Returns: 0, 1 when it exists already (not overwrite),
 * or a failure after saying it. */
static int put_system(struct boot *b, const char *name, cJSON *value, bool overwrite)
{
    char *text = cJSON_PrintUnformatted(value);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Name", name);
    cJSON_AddStringToObject(o, "Value", text ? text : "{}");
    cJSON_AddStringToObject(o, "Type", "String");
    cJSON_AddBoolToObject(o, "Overwrite", overwrite);
    cJSON_free(text);
    struct rt_setup_reply r;
    int rc = rt_setup_json(&b->s, &rt_aws_ssm_put_parameter_op, o, NULL, &r);
    if (rc && !overwrite && rt_setup_failed_with(&r, "ParameterAlreadyExists"))
        rc = 1;
    else if (rc)
        failed_reply(b, name, &r);
    rt_setup_reply_cleanup(&r);
    return rc;
}

static void system_ssm(struct boot *b)
{
    char name[1200];
    rt_snprintf(name, sizeof(name), "%s%s", b->cfg->parameters.path, SYSTEM_NAME);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Name", name);
    struct rt_setup_reply r;
    cJSON *reply = NULL;
    int rc = rt_setup_json(&b->s, &rt_aws_ssm_get_parameter_op, o, &reply, &r);
    bool missing = rc && rt_setup_failed_with(&r, "ParameterNotFound");
    if (rc && !missing) {
        failed_reply(b, name, &r);
        rt_setup_reply_cleanup(&r);
        return;
    }
    rt_setup_reply_cleanup(&r);
    cJSON *want = system_keys(b);
    if (missing) {
        rc = put_system(b, name, want, false);
        if (rc == 0)
            say("created", "parameter %s", name);
        else if (rc == 1) /* written meanwhile, by the daemon or another bootstrap */
            say("exists", "parameter %s (written meanwhile: run bootstrap again to add keys)",
                name);
        cJSON_Delete(want);
        return;
    }
    const char *value = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(reply, "Parameter"), "Value"));
    cJSON *have = value ? cJSON_Parse(value) : NULL;
    cJSON_Delete(reply);
    if (!cJSON_IsObject(have)) {
        say("exists", "parameter %s (not a JSON object: left as it is)", name);
        cJSON_Delete(have);
        cJSON_Delete(want);
        return;
    }
    struct rt_buf added;
    rt_buf_init(&added, 4096);
    const cJSON *item;
    cJSON_ArrayForEach(item, want)
    {
        if (cJSON_HasObjectItem(have, item->string))
            continue; /* an existing value is never replaced */
        cJSON_AddItemToObject(have, item->string, cJSON_Duplicate(item, true));
        rt_buf_printf(&added, "%s%s", added.len ? ", " : "", item->string);
    }
    cJSON_Delete(want);
    if (!added.len) {
        say("exists", "parameter %s", name);
    } else if (put_system(b, name, have, true) == 0) {
        say("created", "keys %s in %s (the other keys kept)", added.data, name);
    }
    rt_buf_cleanup(&added);
    cJSON_Delete(have);
}

/* ---- the command ---- */

static const char usage[] = "usage: retraind bootstrap -c FILE [--labels a,b]\n";

int rt_cmd_bootstrap(int argc, char **argv)
{
    struct rt_cli_opt opts[] = {RT_OPT("config", 'c', true), RT_OPT("labels", 0, true), RT_OPT_END};
    struct rt_cli_args a;
    int rc = rt_cli_parse("bootstrap", argc, argv, 2, opts, &a);
    if (rc)
        return rc;
    if (a.n_words) {
        fputs(usage, stderr);
        return RT_EXIT_USAGE;
    }
    struct rt_config *cfg;
    if ((rc = rt_cli_load_config("bootstrap", opts, &cfg)))
        return rc;
    struct boot b = {.cfg = cfg, .labels_opt = opts[1].present ? opts[1].value : NULL};
    if ((rc = rt_setup_init(&b.s, cfg))) {
        fprintf(stderr, "retraind bootstrap: %s\n", rt_strerror(rc));
        rt_config_destroy(cfg);
        return RT_EXIT_FAIL;
    }
    struct rt_error err;
    rt_error_clear(&err);
    bool aws = cfg->store.driver == RT_STORE_S3 || cfg->parameters.driver == RT_PARAMS_SSM ||
               cfg->engine.driver == RT_ENGINE_REKOGNITION || cfg->review.driver == RT_REVIEW_A2I;
    if (aws && (rc = rt_setup_aws(&b.s, &err))) {
        failed_err(&b, "aws", &err, rc);
    } else if ((rc = rt_setup_store(&b.s, false, &err))) {
        failed_err(&b, "store", &err, rc);
    } else {
        if (cfg->store.driver == RT_STORE_S3)
            store_s3(&b);
        else
            store_local(&b);
        if (cfg->parameters.driver == RT_PARAMS_SSM)
            params_ssm(&b);
        else
            params_local(&b);
        if (cfg->engine.driver == RT_ENGINE_REKOGNITION)
            engine_rekognition(&b);
        if (cfg->review.driver == RT_REVIEW_A2I)
            review_a2i(&b);
        if (cfg->parameters.driver == RT_PARAMS_SSM)
            system_ssm(&b);
    }
    rt_setup_finish(&b.s);
    rt_config_destroy(cfg);
    return b.failures ? RT_EXIT_FAIL : RT_EXIT_OK;
}
