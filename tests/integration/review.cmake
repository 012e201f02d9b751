# The review CLI against a journal whose tasks a small C fixture makes.
add_executable(review-fixture ${CMAKE_CURRENT_SOURCE_DIR}/integration/review_fixture.c)
target_link_libraries(review-fixture PRIVATE rt_journal rt_core)
set_target_properties(review-fixture PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
rt_integration_test(it_review_cli review_cli.py TIMEOUT 180)
