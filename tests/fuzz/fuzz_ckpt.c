/* libFuzzer harness: the checkpoint reader (duet_ckpt_verify, then duet_model_load as duet-sample).
 * See fuzz_common.h for the input layout. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    return fuzz_file(HOSTILE_CKPT, data, size);
}
