# bootstrap and doctor: `retraind bootstrap` and `retraind doctor` against the Node aws-twin
# (routes/setup.js: task UIs, flow definitions, GetTopicAttributes, denied actions) and on the
# embedded default; skipped (77) when node or the twin's npm packages are unavailable.
if(TARGET rt_aws)
  rt_integration_test(bootstrap bootstrap.py TIMEOUT 300)
endif()
if(TARGET rt_aws)
  rt_integration_test(doctor doctor.py TIMEOUT 300)
endif()
