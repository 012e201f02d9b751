/*
 * aws_int.h - what the files of src/aws/ share (not a public interface).
 */
#ifndef RETRAIND_AWS_INT_H
#define RETRAIND_AWS_INT_H

#include <stdbool.h>

#include "retraind/aws.h"
#include "retraind/log.h"
#include "retraind/sigv4.h"
#include "retraind/xml.h"

/* Writes ListObjectsV2's query (list-type=2, encoding-type=url, o's fields) into q (s3.c).
 * Returns: 0 or RT_ENOMEM / RT_ETOOBIG. */
int rt_aws_s3__list_query(const struct rt_aws_s3_list_opts *o, struct rt_buf *q);

#endif
