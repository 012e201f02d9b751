# creds: `retraind sign` without keys through the credential chain: profile files, environment
# over profile, IMDS and --no-imds against a local IMDSv2 server that records whether it was
# contacted (Python stdlib, always runs), and the aws-twin's fake container endpoint and IMDS (npm
# packages installed into the build tree; that part skips with 77 when node/npm are unavailable).
rt_integration_test(creds_sign creds_sign.py TIMEOUT 300)
set_tests_properties(creds_sign PROPERTIES SKIP_RETURN_CODE 77)
# Credentials, finished (issue #9): the daemon's rekognition loop on an assume-role profile while
# the aws-twin expires and revokes the role's keys under it; no step may fail (skips without node).
if(TARGET rt_aws)
  rt_integration_test(creds_assume_role_loop creds_assume_role_loop.py TIMEOUT 400)
  set_tests_properties(creds_assume_role_loop PROPERTIES SKIP_RETURN_CODE 77)
endif()
