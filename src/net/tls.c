/* TLS server contexts (OpenSSL): certificate chain and key from PEM (files or inline text, as
 * Kafka's ssl.keystore.type=PEM allows), trusted CAs for client certificates, client
 * authentication none / requested / required, TLS 1.2 and 1.3 only. The per-connection
 * handshake and record I/O are in conn.c. */
#include "snet_internal.h"
#include "sl_common.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct snet_tls {
    SSL_CTX *ctx;
};

struct ssl_ctx_st *snet__tls_ctx(snet_tls_t *tls)
{
    return tls->ctx;
}

static bool snet__is_pem_text(const char *v)
{
    return strncmp(v, "-----BEGIN", 10) == 0;
}

/* A BIO over a PEM value: the text itself or the file it names. */
static BIO *snet__pem_bio(const char *v)
{
    return snet__is_pem_text(v) ? BIO_new_mem_buf(v, -1) : BIO_new_file(v, "r");
}

static void snet__tls_err(char *err, size_t err_len, const char *what, const char *v)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e) {
        ERR_error_string_n(e, buf, sizeof buf);
    }
    snprintf(err, err_len, "%s%s%s: %s", what, v && !snet__is_pem_text(v) ? " " : "",
             v && !snet__is_pem_text(v) ? v : "", e ? buf : "no PEM data found");
    ERR_clear_error();
}

static int snet__pw_cb(char *buf, int size, int rwflag, void *u)
{
    SL_UNUSED(rwflag);
    const char *pw = u;
    int n = pw ? (int)strlen(pw) : 0;
    if (n >= size) {
        return 0;
    }
    memcpy(buf, pw ? pw : "", (size_t)n);
    return n;
}

/* Loads the leaf certificate and any chain certificates, then the key (from key, or from
 * the chain's PEM when key is NULL). */
static int snet__tls_load_keystore(SSL_CTX *ctx, const snet_tls_conf_t *conf, char *err,
                                   size_t err_len)
{
    BIO *bio = snet__pem_bio(conf->cert_chain);
    X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (!leaf || SSL_CTX_use_certificate(ctx, leaf) != 1) {
        snet__tls_err(err, err_len, "ssl certificate chain", conf->cert_chain);
        X509_free(leaf);
        BIO_free(bio);
        return SL_EINVAL;
    }
    X509_free(leaf);
    X509 *extra;
    while ((extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        SSL_CTX_add_extra_chain_cert(ctx, extra); /* takes extra */
    }
    ERR_clear_error(); /* the end of the certificates */
    BIO_free(bio);
    const char *kv = conf->key ? conf->key : conf->cert_chain;
    bio = snet__pem_bio(kv);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, snet__pw_cb,
                                                   (void *)conf->key_password)
                         : NULL;
    BIO_free(bio);
    if (!pkey || SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        snet__tls_err(err, err_len, "ssl private key", kv);
        EVP_PKEY_free(pkey);
        return SL_EINVAL;
    }
    EVP_PKEY_free(pkey);
    return 0;
}

static int snet__tls_load_ca(SSL_CTX *ctx, const char *ca, char *err, size_t err_len)
{
    BIO *bio = snet__pem_bio(ca);
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    int n = 0;
    X509 *x;
    while (bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        X509_STORE_add_cert(store, x);
        X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(x));
        if (nm) {
            sk_X509_NAME_push(names, nm);
        }
        X509_free(x);
        n++;
    }
    ERR_clear_error();
    BIO_free(bio);
    if (n == 0) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        snprintf(err, err_len, "ssl.truststore: no PEM certificate in %s",
                 snet__is_pem_text(ca) ? "the given text" : ca);
        return SL_EINVAL;
    }
    SSL_CTX_set_client_CA_list(ctx, names); /* takes names */
    return 0;
}

int snet_tls_new(const snet_tls_conf_t *conf, snet_tls_t **out, char *err, size_t err_len)
{
    if (!conf->cert_chain) {
        snprintf(err, err_len, "a TLS listener needs a certificate and key "
                               "(ssl.keystore.location, or ssl.keystore.certificate.chain and "
                               "ssl.keystore.key)");
        return SL_EINVAL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snet__tls_err(err, err_len, "SSL_CTX_new", NULL);
        return SL_EINVAL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    int rc = snet__tls_load_keystore(ctx, conf, err, err_len);
    if (rc == 0 && conf->ca) {
        rc = snet__tls_load_ca(ctx, conf->ca, err, err_len);
    }
    if (rc == 0 && conf->client_auth != SNET_CLIENT_AUTH_NONE) {
        if (!conf->ca) {
            snprintf(err, err_len, "ssl.client.auth needs ssl.truststore.location (the CA that "
                                   "signs client certificates)");
            rc = SL_EINVAL;
        } else {
            int mode = SSL_VERIFY_PEER;
            if (conf->client_auth == SNET_CLIENT_AUTH_REQUIRED) {
                mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
            }
            SSL_CTX_set_verify(ctx, mode, NULL);
            SSL_CTX_set_verify_depth(ctx, 10);
        }
    }
    if (rc != 0) {
        SSL_CTX_free(ctx);
        return rc;
    }
    snet_tls_t *tls = sl_xcalloc(1, sizeof *tls);
    tls->ctx = ctx;
    *out = tls;
    return 0;
}

void snet_tls_free(snet_tls_t *tls)
{
    if (!tls) {
        return;
    }
    SSL_CTX_free(tls->ctx);
    free(tls);
}
