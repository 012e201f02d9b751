/*
 * ssm.c - SSM Parameter Store (json 1.1, AmazonSSM.<Op>): the operation table and two small
 * builders, enough for the ssm parameters driver and the tests against the twin.
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "aws_int.h"
#include "retraind/alloc.h"

const struct rt_aws_service rt_aws_ssm = {
    .id = "ssm",
    .env_id = "SSM",
    .endpoint_prefix = "ssm",
    .signing_name = "ssm",
    .protocol = RT_AWS_JSON_11,
    .target_prefix = "AmazonSSM",
};

const struct rt_aws_op rt_aws_ssm_get_parameter_op = {&rt_aws_ssm, "GetParameter", "POST", "/", 0};
const struct rt_aws_op rt_aws_ssm_put_parameter_op = {&rt_aws_ssm, "PutParameter", "POST", "/", 0};
const struct rt_aws_op rt_aws_ssm_delete_parameter_op = {&rt_aws_ssm, "DeleteParameter", "POST",
                                                         "/", 0};
const struct rt_aws_op rt_aws_ssm_get_parameters_by_path_op = {&rt_aws_ssm, "GetParametersByPath",
                                                               "POST", "/", 0};

/* Sends op with the JSON object obj (consumed). */
static int call_json(struct rt_aws_client *c,
                     const struct rt_aws_op *op,
                     cJSON *obj,
                     rt_aws_done_fn *cb,
                     void *ud,
                     struct rt_error *err)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!text)
        return rt_error_set(err, RT_ENOMEM, "ssm %s: out of memory", op->name);
    struct rt_aws_params p = {.body = text, .body_len = strlen(text)};
    int rc = rt_aws_call(c, op, &p, cb, ud, err);
    cJSON_free(text);
    return rc;
}

int rt_aws_ssm_get_parameter(
    struct rt_aws_client *c, const char *name, rt_aws_done_fn *cb, void *ud, struct rt_error *err)
{
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddStringToObject(o, "Name", name ? name : "")) {
        cJSON_Delete(o);
        o = NULL;
    }
    return call_json(c, &rt_aws_ssm_get_parameter_op, o, cb, ud, err);
}

int rt_aws_ssm_put_parameter(struct rt_aws_client *c,
                             const char *name,
                             const char *value,
                             bool overwrite,
                             rt_aws_done_fn *cb,
                             void *ud,
                             struct rt_error *err)
{
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddStringToObject(o, "Name", name ? name : "") ||
              !cJSON_AddStringToObject(o, "Value", value ? value : "") ||
              !cJSON_AddStringToObject(o, "Type", "String") ||
              !cJSON_AddBoolToObject(o, "Overwrite", overwrite))) {
        cJSON_Delete(o);
        o = NULL;
    }
    return call_json(c, &rt_aws_ssm_put_parameter_op, o, cb, ud, err);
}

char *rt_aws_ssm_parse_value(struct rt_str body)
{
    cJSON *root = cJSON_ParseWithLength(body.p, body.len);
    const cJSON *par = cJSON_GetObjectItemCaseSensitive(root, "Parameter");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(par, "Value");
    char *out = cJSON_IsString(v) ? rt_strdup(v->valuestring) : NULL;
    cJSON_Delete(root);
    return out;
}
