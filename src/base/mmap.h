/* Read-only files in memory: memory-mapped, or read whole into anonymous memory. */
#ifndef FR_MMAP_H
#define FR_MMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct fr_mmap {
    const uint8_t *data;
    size_t size;
    size_t lead; /* read into memory: bytes of the allocation before data (fr_mmap_open_at) */
    char *path;
} fr_mmap;

/* Map the whole file read-only. An empty file maps to data = NULL, size = 0. */
int fr_mmap_open(fr_mmap *m, const char *path);
/* in_memory = 0: the same; 1: the file read whole into anonymous memory
 * (transparent huge pages asked for), read-only once read, as llama.cpp's
 * --no-mmap. fr_mmap_close releases either. */
int fr_mmap_open_mode(fr_mmap *m, const char *path, int in_memory);
/* The same; read into memory, the file's byte at offset align_at lands on a
 * 64-byte boundary (a mapping keeps the file's offsets modulo the page). */
int fr_mmap_open_at(fr_mmap *m, const char *path, int in_memory, uint64_t align_at);
void fr_mmap_close(fr_mmap *m);

/* n > 0 zeroed bytes of anonymous memory: page-aligned, the pages mapped as
 * they are first touched, transparent huge pages asked for (a cache read
 * whole every token). NULL when out of memory. fr_anon_free(p, n) releases. */
void *fr_anon_zalloc(size_t n);
void fr_anon_free(void *p, size_t n);

/* Read a whole (small) file into a NUL-terminated malloc'd buffer, refusing files
 * larger than max_size. */
int fr_read_file(const char *path, size_t max_size, char **out, size_t *len);

#endif
