/*
 * engine.c - driver-independent parts of the engine interface (status names).
 */
#include "retraind/engine.h"

const char *rt_model_status_name(enum rt_model_status s)
{
    switch (s) {
    case RT_MODEL_UNKNOWN:
        return "UNKNOWN";
    case RT_MODEL_TRAINING_IN_PROGRESS:
        return "TRAINING_IN_PROGRESS";
    case RT_MODEL_TRAINING_COMPLETED:
        return "TRAINING_COMPLETED";
    case RT_MODEL_TRAINING_FAILED:
        return "TRAINING_FAILED";
    case RT_MODEL_STARTING:
        return "STARTING";
    case RT_MODEL_RUNNING:
        return "RUNNING";
    case RT_MODEL_STOPPING:
        return "STOPPING";
    case RT_MODEL_STOPPED:
        return "STOPPED";
    case RT_MODEL_FAILED:
        return "FAILED";
    }
    return "UNKNOWN";
}
