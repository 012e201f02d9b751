# bench_detect: detections/s of the builtin engine through the detection service for 10,000
# 256x256 images, queued or dropped at once, with the loop's longest stall (>= 1,000/s, < 20 ms).
find_package(Threads REQUIRED)
if(TARGET rt_workflow AND TARGET rt_engine AND TARGET rt_synth AND TARGET rt_store)
  add_executable(bench_detect ${CMAKE_CURRENT_SOURCE_DIR}/bench_detect.c)
  target_link_libraries(bench_detect PRIVATE rt_workflow rt_engine rt_synth rt_store rt_journal
                        PkgConfig::LIBUV Threads::Threads)
endif()
