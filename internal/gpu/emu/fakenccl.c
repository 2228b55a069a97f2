// A fake libnccl.so.2 beside fakecuda.c, for machines without a GPU: a job
// of one rank, whose all-reduce (sum or average) and broadcast leave the
// buffer as it is. It checks the Go side of baryir's NCCL communicator
// (loading, the bootstrap over MPI, the communicator made on first use, the
// arguments of each call), not NCCL. If FAKE_NCCL_COUNT names a file, the
// number of collectives is written there when the communicator is destroyed.
// Built and used by scripts/mpi_check.sh.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef struct { char internal[128]; } ncclUniqueId;
static long calls = 0;
static const char magic[] = "fakenccl unique id";
int ncclGetVersion(int *v) { *v = 21805; return 0; }
int ncclGetUniqueId(ncclUniqueId *id) { memset(id, 0, sizeof *id); strcpy(id->internal, magic); return 0; }
int ncclCommInitRank(void **c, int n, ncclUniqueId id, int rank) {
  if (strcmp(id.internal, magic) != 0) return 4; /* ncclInvalidArgument: the id was not broadcast */
  if (n != 1 || rank != 0) return 5;             /* ncclInvalidUsage: one rank only */
  *c = (void *)0x1;
  return 0;
}
int ncclCommDestroy(void *c) {
  const char *path = getenv("FAKE_NCCL_COUNT");
  if (path) { FILE *f = fopen(path, "w"); if (f) { fprintf(f, "%ld\n", calls); fclose(f); } }
  return c == (void *)0x1 ? 0 : 4;
}
static int check(const void *s, void *r, int dt, void *c) { return (dt == 7 && c == (void *)0x1 && s && r) ? 0 : 4; }
int ncclAllReduce(const void *s, void *r, size_t n, int dt, int op, void *c, void *st) {
  calls++;
  if (check(s, r, dt, c) || (op != 0 && op != 4)) return 4;
  if (s != r) memmove(r, s, 4 * n);
  return 0;
}
int ncclBroadcast(const void *s, void *r, size_t n, int dt, int root, void *c, void *st) {
  calls++;
  if (check(s, r, dt, c) || root != 0) return 4;
  if (s != r) memmove(r, s, 4 * n);
  return 0;
}
const char *ncclGetErrorString(int rc) {
  switch (rc) {
  case 0: return "no error";
  case 4: return "invalid argument (fake NCCL)";
  case 5: return "invalid usage (fake NCCL: one rank only)";
  }
  return "unknown error (fake NCCL)";
}
