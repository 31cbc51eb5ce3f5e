/* libFuzzer harness: the tokenizer loader (duet_tokenizer_load, then encode/decode round trip).
 * See fuzz_common.h for the input layout. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    return fuzz_file(HOSTILE_TOK, data, size);
}
