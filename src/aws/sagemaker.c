/*
 * sagemaker.c - the A2I runtime (rest-json, signing name sagemaker, host
 * a2i-runtime.sagemaker.<region>.amazonaws.com) and the SageMaker control plane (json 1.1,
 * SageMaker.<Op>, host api.sagemaker.<region>.amazonaws.com): the operation tables the a2i review
 * driver calls (aws-wire.md 4.1 and 4.2).
 */
#include "aws_int.h"

const struct rt_aws_service rt_aws_a2i = {
    .id = "a2i",
    .env_id = "SAGEMAKER_A2I_RUNTIME",
    .endpoint_prefix = "a2i-runtime.sagemaker",
    .signing_name = "sagemaker",
    .protocol = RT_AWS_REST_JSON,
};

const struct rt_aws_service rt_aws_sagemaker = {
    .id = "sagemaker",
    .env_id = "SAGEMAKER",
    .endpoint_prefix = "api.sagemaker",
    .signing_name = "sagemaker",
    .protocol = RT_AWS_JSON_11,
    .target_prefix = "SageMaker",
};

const struct rt_aws_op rt_aws_a2i_start_human_loop_op = {&rt_aws_a2i, "StartHumanLoop", "POST",
                                                         "/human-loops", 0};
/* The path is per call: /human-loops/<name> (a loop name needs no escaping). */
const struct rt_aws_op rt_aws_a2i_describe_human_loop_op = {&rt_aws_a2i, "DescribeHumanLoop", "GET",
                                                            "/human-loops", 0};
const struct rt_aws_op rt_aws_a2i_stop_human_loop_op = {&rt_aws_a2i, "StopHumanLoop", "POST",
                                                        "/human-loops/stop", 0};
const struct rt_aws_op rt_aws_sagemaker_describe_flow_definition_op = {
    &rt_aws_sagemaker, "DescribeFlowDefinition", "POST", "/", 0};
/* The setup calls of `retraind bootstrap` (aws-wire.md 4.2). */
const struct rt_aws_op rt_aws_sagemaker_create_human_task_ui_op = {
    &rt_aws_sagemaker, "CreateHumanTaskUi", "POST", "/", 0};
const struct rt_aws_op rt_aws_sagemaker_describe_human_task_ui_op = {
    &rt_aws_sagemaker, "DescribeHumanTaskUi", "POST", "/", 0};
const struct rt_aws_op rt_aws_sagemaker_create_flow_definition_op = {
    &rt_aws_sagemaker, "CreateFlowDefinition", "POST", "/", 0};
