/*
 * engine_rekognition.h - the `rekognition` engine driver: struct rt_engine_ops over Rekognition
 * Custom Labels (json 1.1, RekognitionService.<Op>, signing name rekognition; aws-wire.md 3),
 * every call through rt_aws_call on the loop.
 *
 * train    CreateProjectVersion (VersionName = the given version; training data the manifest as
 *          an S3 object of the store's bucket, testing data AutoCreate, output
 *          s3://bucket/<output_prefix>); ResourceInUseException / ResourceAlreadyExistsException
 *          (a retry that finds its version) counts as started.
 * describe DescribeProjectVersions {VersionNames: [version]}: status, StatusMessage, F1 from
 *          EvaluationResult.F1Score; no such version is RT_MODEL_UNKNOWN.
 * start    StartProjectVersion {MinInferenceUnits[, MaxInferenceUnits]}; stop StopProjectVersion.
 *          ResourceInUseException is checked with a describe: already (being) in the wanted
 *          state succeeds, any other state is RT_EBUSY.
 * detect   DetectCustomLabels {MinConfidence} on Image.Bytes; detect_key on Image.S3Object
 *          {Bucket: the store's bucket, Name: key}. ThrottlingException and
 *          ProvisionedThroughputExceededException reach the caller as RT_ETHROTTLED (after
 *          httpc's retries); ResourceNotReadyException (the version is not RUNNING) as RT_EBUSY.
 *
 * The project is a name or an ARN; a name is resolved once with DescribeProjects and cached.
 * Version ARNs (needed by start, stop and detect) are learnt from CreateProjectVersion and
 * DescribeProjectVersions and cached by name.
 */
#ifndef RETRAIND_ENGINE_REKOGNITION_H
#define RETRAIND_ENGINE_REKOGNITION_H

#include "retraind/engine.h"

struct rt_aws_client;
struct rt_credentials_provider;
struct rt_httpc;
struct rt_config;

struct rt_engine_rekognition_opts {
    struct rt_aws_client *client; /* borrowed unless own_client; must outlive the engine */
    /* owned: the engine destroys client and then closes credentials (when not NULL) at close */
    bool own_client;
    struct rt_credentials_provider *credentials;
    const char *project;     /* name or ARN (copied) */
    const char *bucket;      /* the store's bucket: manifests, images and evaluation output */
    int max_inference_units; /* StartProjectVersion MaxInferenceUnits; 0: not sent */
};

/* Returns: 0 and *out, or RT_EINVAL (no client, project or bucket) / RT_ENOMEM with err. On
 * failure nothing is taken over (the caller still owns client and credentials). */
int rt_engine_rekognition_new(struct uv_loop_s *loop,
                              const struct rt_engine_rekognition_opts *opts,
                              struct rt_engine **out,
                              struct rt_error *err);

/* Maps a Rekognition ProjectVersion Status onto the engine's status (pure; for tests). */
enum rt_model_status rt_engine_rekognition_status(const char *status);

#endif
