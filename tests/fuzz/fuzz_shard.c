/* libFuzzer harness: the shard reader (duet_shards_open, every document read).
 * See fuzz_common.h for the input layout. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    return fuzz_file(HOSTILE_SHARD, data, size);
}
