/* Optional shared libraries opened with dlopen on first use: the one sluice binary serves
 * every command, and a library that only one command needs is not linked (every start of
 * every command would map and relocate it and its dependencies). A module lists the functions
 * it uses as a struct of function pointers and a table of their names and offsets; sl_dl_t
 * opens the libraries once and keeps the first error. Thread: any. */
#ifndef SL_DL_H
#define SL_DL_H

#include <pthread.h>
#include <stddef.h>

/* A field of the module's struct for function f, declared with f's own prototype. */
#define SL_DL_FIELD(f) __typeof__(f) *f;

typedef struct {
    const char *name;
    size_t offset; /* of the function pointer in the module's struct */
} sl_dl_sym_t;

/* Opens soname and stores the address of each of syms[0..n) into fns at its offset. Returns 0,
 * or -1 with a message in err naming the library or the missing function. The library stays
 * open for the life of the process. */
int sl_dl_load(const char *soname, const sl_dl_sym_t *syms, size_t n, void *fns, char *err,
               size_t err_len);

typedef struct {
    pthread_once_t once;
    void (*load)(void); /* fills the module's struct; writes err on failure */
    char err[512];
} sl_dl_t;
#define SL_DL_INIT(load_fn) {PTHREAD_ONCE_INIT, load_fn, {0}}

/* Runs dl->load once. Returns 0, or -1 with dl's error copied to err. */
int sl_dl_open(sl_dl_t *dl, char *err, size_t err_len);
/* As sl_dl_open, but a failure prints the error and aborts (callers that can report an error
 * call sl_dl_open first). */
void sl_dl_require(sl_dl_t *dl);

#endif
