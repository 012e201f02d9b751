# bench_list: client CPU and peak memory to list and count 100,000 keys through the s3 store
# driver against the aws-twin's generated buckets (routes/listgen.js), beside boto3 listing the
# same bucket. Needs node and the twin's npm packages (<build>/aws-twin, installed by the
# aws_live / store_s3_live tests).
if(TARGET rt_store AND TARGET rt_aws)
  add_executable(bench_list ${CMAKE_CURRENT_SOURCE_DIR}/bench_list.c)
  target_link_libraries(bench_list PRIVATE rt_store rt_aws rt_core PkgConfig::LIBUV)
  target_compile_definitions(bench_list PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}"
    RT_BUILD_DIR="${CMAKE_BINARY_DIR}")
endif()
