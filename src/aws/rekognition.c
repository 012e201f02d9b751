/*
 * rekognition.c - Rekognition Custom Labels' project calls (json 1.1, RekognitionService.<Op>,
 * aws-wire.md 3.1) for `retraind bootstrap` and `retraind doctor`: CreateProject and
 * DescribeProjects, and the service the engine driver (src/engine/rekognition.c) builds its
 * training and inference operations on.
 */
#include "aws_int.h"

const struct rt_aws_service rt_aws_rekognition = {
    .id = "rekognition",
    .env_id = "REKOGNITION",
    .endpoint_prefix = "rekognition",
    .signing_name = "rekognition",
    .protocol = RT_AWS_JSON_11,
    .target_prefix = "RekognitionService",
};

const struct rt_aws_op rt_aws_rekognition_create_project_op = {&rt_aws_rekognition, "CreateProject",
                                                               "POST", "/", 0};
const struct rt_aws_op rt_aws_rekognition_describe_projects_op = {
    &rt_aws_rekognition, "DescribeProjects", "POST", "/", 0};
