# Fuzz target of the AWS reply parsers (error shapes of every protocol, the XML scanner, the
# ListObjectsV2 parser). Seeds: the recorded replies of tests/data/aws/errors plus a listing.
set(rt_aws_seeds ${CMAKE_BINARY_DIR}/fuzz-seeds/aws_error)
file(MAKE_DIRECTORY ${rt_aws_seeds})
file(GLOB rt_aws_recorded ${CMAKE_SOURCE_DIR}/tests/data/aws/errors/*.txt)
file(COPY ${rt_aws_recorded} DESTINATION ${rt_aws_seeds})
file(WRITE ${rt_aws_seeds}/list.xml
  "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
  "<Contents><Key>a+b%2B.jpg</Key><Size>3</Size><ETag>&quot;e&quot;</ETag>"
  "<LastModified>2024-05-01T12:00:00.000Z</LastModified></Contents>"
  "<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>"
  "<NextContinuationToken>t</NextContinuationToken></ListBucketResult>")
# The XML scanner and the form decoder are core's (shared with the credential providers).
set(rt_aws_fuzz_sources ${CMAKE_SOURCE_DIR}/src/aws/errors.c ${CMAKE_SOURCE_DIR}/src/aws/s3.c
  ${CMAKE_SOURCE_DIR}/src/core/xml.c ${CMAKE_SOURCE_DIR}/src/core/form.c
  ${CMAKE_SOURCE_DIR}/src/core/error.c
  ${CMAKE_SOURCE_DIR}/src/core/buf.c ${CMAKE_SOURCE_DIR}/src/core/alloc.c
  ${CMAKE_SOURCE_DIR}/src/core/clock.c ${CMAKE_SOURCE_DIR}/src/core/log.c)
file(GLOB rt_aws_fuzz_sigv4 ${CMAKE_SOURCE_DIR}/src/sigv4/*.c)
add_test(NAME fuzz_aws_error COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh aws_error 10
  ${rt_aws_seeds} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_aws_error.c ${rt_aws_fuzz_sources}
  ${rt_aws_fuzz_sigv4})
set_tests_properties(fuzz_aws_error PROPERTIES LABELS fuzz
  ENVIRONMENT RETRAIND_BUILD=${CMAKE_BINARY_DIR} TIMEOUT 180)
