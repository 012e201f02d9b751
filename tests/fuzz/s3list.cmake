# Fuzz target of the streaming ListObjectsV2 parser (expat, src/aws/s3list.c): every input is
# parsed whole and in random pieces, which must agree, and once more through a retry. Seeds: pages
# with <EncodingType> before the keys (S3), after them, absent, an <Error>, a DOCTYPE.
set(rt_s3list_seeds ${CMAKE_BINARY_DIR}/fuzz-seeds/s3_list_stream)
file(MAKE_DIRECTORY ${rt_s3list_seeds})
string(CONCAT rt_s3list_c "<Contents><Key>a+b%2B%25%C3%A9.jpg</Key><Size>3</Size>"
  "<ETag>&quot;e&quot;</ETag><LastModified>2024-05-01T12:00:00.000Z</LastModified></Contents>"
  "<Contents><Key>b/c+d</Key><Size>0</Size></Contents>")
# The first two bytes of each seed choose the split.
file(WRITE ${rt_s3list_seeds}/before.xml "a7<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\">"
  "<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
  "<NextContinuationToken>t+/=</NextContinuationToken>" "${rt_s3list_c}"
  "<CommonPrefixes><Prefix>p+q/</Prefix></CommonPrefixes></ListBucketResult>")
file(WRITE ${rt_s3list_seeds}/after.xml "b9<ListBucketResult>" "${rt_s3list_c}"
  "<EncodingType>url</EncodingType><IsTruncated>false</IsTruncated></ListBucketResult>")
file(WRITE ${rt_s3list_seeds}/raw.xml "c1<ListBucketResult>" "${rt_s3list_c}" "</ListBucketResult>")
file(WRITE ${rt_s3list_seeds}/error.xml "d2<Error><Code>SlowDown</Code><Message>m</Message>"
  "<RequestId>r</RequestId></Error>")
file(WRITE ${rt_s3list_seeds}/doctype.xml "e3<!DOCTYPE a [<!ENTITY x \"y\">]><ListBucketResult>"
  "<Contents><Key>&x;</Key></Contents></ListBucketResult>")
set(rt_s3list_sources ${CMAKE_SOURCE_DIR}/src/aws/s3list.c ${CMAKE_SOURCE_DIR}/src/core/form.c
  ${CMAKE_SOURCE_DIR}/src/core/error.c ${CMAKE_SOURCE_DIR}/src/core/buf.c
  ${CMAKE_SOURCE_DIR}/src/core/alloc.c ${CMAKE_SOURCE_DIR}/src/core/clock.c
  ${CMAKE_SOURCE_DIR}/src/core/log.c)
add_test(NAME fuzz_s3_list_stream COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh
  s3_list_stream 10 ${rt_s3list_seeds} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_s3_list_stream.c
  ${rt_s3list_sources})
set_tests_properties(fuzz_s3_list_stream PROPERTIES LABELS fuzz
  ENVIRONMENT RETRAIND_BUILD=${CMAKE_BINARY_DIR} TIMEOUT 180)
