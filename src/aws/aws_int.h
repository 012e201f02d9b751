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

#endif
