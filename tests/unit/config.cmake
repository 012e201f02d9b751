# The config parser's unit tests; the table of cases lives in tests/data/config/.
rt_unit_test(config ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_config.c LIBS rt_core)
target_compile_definitions(test_config PRIVATE
  RT_CONFIG_DATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/data/config"
  RT_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

# `retraind check-config` itself, on the shipped configs and on one naming a driver not built (exit 0 / 2, the
# message on stderr names file:line:col and the key).
if(TARGET retraind)
  set(rt_cc $<TARGET_FILE:retraind>)
  set(rt_cfg_data ${CMAKE_CURRENT_SOURCE_DIR}/data/config)
  add_test(NAME config_cli_local_yaml
    COMMAND sh -c "out=$(\"$0\" check-config -c \"$1\") && [ \"$out\" = \"$1: ok\" ]"
            ${rt_cc} ${CMAKE_SOURCE_DIR}/config/local.yaml)
  add_test(NAME config_cli_reference_yaml
    COMMAND sh -c "out=$(\"$0\" check-config --config=\"$1\") && [ \"$out\" = \"$1: ok\" ]"
            ${rt_cc} ${CMAKE_SOURCE_DIR}/config/retraind.yaml)
  add_test(NAME config_cli_error_exits_2
    COMMAND sh -c "err=$(\"$0\" check-config -c \"$1\" 2>&1 >/dev/null); rc=$?; [ $rc -eq 2 ] && [ \"$err\" = \"$1:6:11: engine.driver: unknown driver \\\"tensorflow\\\" (known: builtin, rekognition)\" ]"
            ${rt_cc} ${rt_cfg_data}/bad_driver_unknown.yaml)
  add_test(NAME config_cli_missing_option_exits_2
    COMMAND sh -c "\"$0\" check-config >/dev/null 2>&1; [ $? -eq 2 ]" ${rt_cc})
  add_test(NAME config_cli_missing_file_exits_2
    COMMAND sh -c "\"$0\" check-config -c /nonexistent/x.yaml >/dev/null 2>&1; [ $? -eq 2 ]"
            ${rt_cc})
  set_tests_properties(config_cli_local_yaml config_cli_reference_yaml config_cli_error_exits_2
    config_cli_missing_option_exits_2 config_cli_missing_file_exits_2
    PROPERTIES LABELS unit TIMEOUT 60)
endif()
