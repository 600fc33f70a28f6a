/* tls.c: the one place where the replayer sets up TLS: the client context (CA file or directory,
 * client certificate, TLS 1.2 at least) and, per connection, the server name sent (SNI) and
 * the identity checked in the server's certificate: the host name, or the IP address when the
 * target is given as one. Every connection kind (replay traffic, the topology and COMMAND
 * GETKEYS control connections, the write read-back, the preflight probe) goes through it, so
 * none can skip the identity check. */
#include "replay_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>

SSL_CTX *rt_tls_ctx_new(const struct replay_tls *t, struct rt_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char eb[200];
    if (!ctx) {
        rt_err_set(err, RT_ENOMEM, "TLS: cannot create a context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (t->ca_file || t->ca_dir) {
        if (SSL_CTX_load_verify_locations(ctx, t->ca_file, t->ca_dir) != 1) {
            ERR_error_string_n(ERR_get_error(), eb, sizeof eb);
            rt_err_set(err, RT_EINVAL, "TLS: cannot load the CA %s '%s': %s",
                       t->ca_file ? "file" : "directory", t->ca_file ? t->ca_file : t->ca_dir, eb);
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else {
        SSL_CTX_set_default_verify_paths(ctx);
    }
    if (t->cert) {
        const char *key = t->key ? t->key : t->cert;
        if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            ERR_error_string_n(ERR_get_error(), eb, sizeof eb);
            rt_err_set(err, RT_EINVAL, "TLS: cannot use the client certificate '%s' / key '%s': %s",
                       t->cert, key, eb);
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    SSL_CTX_set_verify(ctx, t->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    return ctx;
}

SSL *rt_tls_ssl_new(SSL_CTX *ctx, const char *name, int insecure)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        return NULL;
    struct in6_addr a;
    int is_ip = inet_pton(AF_INET, name, &a) == 1 || inet_pton(AF_INET6, name, &a) == 1;
    /* SNI carries host names only (RFC 6066); an IP address is checked against the
     * certificate's IP address entries instead of its names */
    if (!is_ip)
        SSL_set_tlsext_host_name(ssl, name);
    if (!insecure) {
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                       : SSL_set1_host(ssl, name);
        if (ok != 1) {
            SSL_free(ssl);
            return NULL;
        }
    }
    return ssl;
}

void rt_tls_error(SSL *ssl, char *buf, size_t cap)
{
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long le = ERR_peek_last_error();
    if (vr != X509_V_OK) {
        snprintf(buf, cap, "TLS: the server's certificate was not accepted: %s",
                 X509_verify_cert_error_string(vr));
    } else if (le && ERR_GET_REASON(le) == SSL_R_WRONG_VERSION_NUMBER) {
        snprintf(buf, cap, "TLS handshake failed: the port does not speak TLS (it answered in "
                           "plain text; use redis:// for a plaintext port)");
    } else if (le) {
        char eb[200];
        ERR_error_string_n(le, eb, sizeof eb);
        snprintf(buf, cap, "TLS: %s", eb);
    } else {
        snprintf(buf, cap, "TLS handshake failed: the server closed the connection (does it "
                           "speak TLS, or want a client certificate, --cert/--key?)");
    }
    ERR_clear_error();
}
