/*
 * fuzz_config.c - libFuzzer target for the config parser (rt_config_load_string).
 *
 * Any byte string must give either a config or an RT_ECONFIG/RT_ENOMEM error with a position,
 * never a crash, a leak or a hang. The seed corpus is tests/data/config/ (good and bad cases).
 */
#include <stdint.h>
#include <stdlib.h>

#include "retraind/alloc.h"
#include "retraind/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rt_config *cfg = NULL;
    struct rt_error err;
    long live = rt_alloc_live();
    rt_error_clear(&err);
    int rc = rt_config_load_string((const char *)data, size, "fuzz.yaml", "/fuzz/base", &cfg, &err);
    if (rc == 0) {
        if (!cfg || !cfg->data_dir || cfg->data_dir[0] != '/' || !cfg->log_level)
            abort();
        rt_config_destroy(cfg);
    } else if (cfg != NULL || err.code != rc || (rc == RT_ECONFIG && err.line < 1)) {
        abort();
    }
    if (rt_alloc_live() != live)
        abort(); /* everything the parser allocated was freed */
    return 0;
}
