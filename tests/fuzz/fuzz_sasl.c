/* libFuzzer target for the SASL server exchange (src/net/sasl.c): the first byte picks the
 * mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), the rest is up to three client tokens
 * separated by 0xFF bytes, fed in order while the exchange continues. One user "user" with
 * password "pencil" (the RFC 7677 credential) and a fixed server nonce, so that inputs built
 * from the RFC example reach the proof check. Never crashes, leaks or reads out of bounds;
 * a failure always says why; success only for the right password. */
#include "sl_common.h"
#include "snet_sasl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static snet_scram_cred_t fuzz_cred;

static int fuzz_lookup(void *ctx, snet_mech_t mech, const char *user, snet_scram_cred_t *out)
{
    SL_UNUSED(ctx);
    if (mech != SNET_MECH_SCRAM_SHA_256 || strcmp(user, "user") != 0) {
        return SL_ENOTFOUND;
    }
    *out = fuzz_cred;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_cred.iterations == 0) {
        uint8_t salt[16];
        int n = snet_b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt, sizeof salt);
        snet_scram_cred_derive(SNET_MECH_SCRAM_SHA_256, "pencil", 6, salt, (size_t)n, 4096,
                               &fuzz_cred);
    }
    if (size < 1) {
        return 0;
    }
    snet_mech_t mech = (snet_mech_t)(data[0] % SNET_MECH_COUNT);
    snet_sasl_t *sasl = snet_sasl_new(mech, fuzz_lookup, NULL);
    snet_sasl_set_nonce(sasl, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    size_t pos = 1;
    for (int step = 0; step < 3 && pos <= size; step++) {
        const uint8_t *end = memchr(data + pos, 0xFF, size - pos);
        size_t len = end ? (size_t)(end - (data + pos)) : size - pos;
        /* a private copy, so reads past the token are caught by ASan */
        uint8_t *tok = malloc(len ? len : 1);
        memcpy(tok, data + pos, len);
        uint8_t *resp = NULL;
        size_t resp_len = 0;
        const char *why = NULL;
        int rc = snet_sasl_step(sasl, tok, len, &resp, &resp_len, &why);
        free(tok);
        if (rc == SNET_SASL_VERIFY) {
            if (resp) {
                abort();
            }
            snet_sasl_verify(sasl);
            rc = snet_sasl_finish(sasl, &resp, &resp_len, &why);
        }
        if (rc < 0) {
            if (!why || resp) {
                abort(); /* a failure says why and answers nothing */
            }
            break;
        }
        if (!resp) {
            abort();
        }
        free(resp);
        if (rc == SNET_SASL_DONE) {
            if (strcmp(snet_sasl_user(sasl), "user") != 0) {
                abort(); /* only the one user can ever succeed */
            }
            break;
        }
        pos += len + 1;
    }
    snet_sasl_free(sasl);
    return 0;
}
