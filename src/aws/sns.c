/*
 * sns.c - SNS (query protocol, Version 2010-03-31): the operation table for Publish, used by the
 * sns notifier.
 */
#include "aws_int.h"

const struct rt_aws_service rt_aws_sns = {
    .id = "sns",
    .env_id = "SNS",
    .endpoint_prefix = "sns",
    .signing_name = "sns",
    .protocol = RT_AWS_QUERY,
    .api_version = "2010-03-31",
};

const struct rt_aws_op rt_aws_sns_publish_op = {&rt_aws_sns, "Publish", "POST", "/", 0};
/* `retraind doctor`'s harmless check that the topic exists and may be read. */
const struct rt_aws_op rt_aws_sns_get_topic_attributes_op = {&rt_aws_sns, "GetTopicAttributes",
                                                             "POST", "/", 0};
