/* One matmul kernel's throughput per thread, in CPU time (robust to a shared
 * machine: time the scheduler gives other processes is not counted):
 *   gcc -O3 -std=c17 -D_POSIX_C_SOURCE=200809L -Isrc bench/kernel_bench.c build/libfrugal.a -lpthread -lm -o /tmp/kb
 *   /tmp/kb bf16|f8|f16|f32 N_TOKENS ROWS
 * Weights [ROWS, 2048] (ROWS=128: 0.25-1 MiB, in L2: compute, not memory),
 * every kernel table this CPU has (generic only for N <= 8: it is slow), and
 * a table's not-exact kernel (matmul_fast) where it has one, as "ISA+fast". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
#include "kernels/kernels.h"
static double cpu(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+1e-9*t.tv_nsec;}
int main(int argc,char**argv){
  const char*dt=argv[1]; int n=atoi(argv[2]); int64_t rows=atoi(argv[3]), cols=2048;
  fr_tensor W={0}; W.ndim=2; W.ne[0]=rows; W.ne[1]=cols;
  W.dtype = !strcmp(dt,"f8")?FR_DT_F8_E4M3:!strcmp(dt,"f16")?FR_DT_F16:!strcmp(dt,"f32")?FR_DT_F32:FR_DT_BF16;
  int es = W.dtype==FR_DT_F8_E4M3?1:W.dtype==FR_DT_F32?4:2;
  size_t nb=(size_t)(rows*cols*es); void*d=aligned_alloc(64,nb); memset(d,0x11,nb); W.data=d; W.nbytes=nb;
  W.f8rows=calloc((size_t)rows,1); /* the row notes a model's FP8 tensors carry (tensor/weights.c) */
  float*sc=malloc(sizeof(float)*(rows/128+1)*(cols/128+1)); for(int i=0;i<(rows/128+1)*(cols/128+1);i++)sc[i]=0.01f; W.scale=sc;
  float*x=malloc(cols*4*n),*y=malloc(rows*4*n); for(int i=0;i<cols*n;i++)x[i]=0.001f*(i%100);
  const char *isas[]={"generic","avx2","avx512","avx512vnni","avx512bf16","amx"}; /* amx: only on a CPU with AMX */
  for(int k=0;k<12;k++){ const fr_kernel_table*t=fr_kernels_isa(isas[k/2]); if(!t)continue; if(k<2&&n>8)continue;
    fr_matmul_fn f = k%2 ? t->matmul_fast[W.dtype] : t->matmul[W.dtype]; if(!f)continue;
    int reps = k<2? 2: 20;
    double best=1e9; for(int r=0;r<3;r++){ double t0=cpu(); for(int i=0;i<reps;i++) f(&W,x,y,n,0,rows); double dtm=(cpu()-t0)/reps; if(dtm<best)best=dtm;}
    printf("%-10s%-5s %-4s n=%-3d rows=%lld: %6.2f G weights/s, %6.1f GFLOP/s (per thread CPU second)\n", isas[k/2], k%2?"+fast":"", dt, n, (long long)rows, rows*cols/best/1e9, 2.0*rows*cols*n/best/1e9);
  }
  return 0;}
