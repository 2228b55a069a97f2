// A fake libcuda.so.1 for machines without a GPU: device memory is host
// memory and every kernel launch runs a plain C emulation (emu.c) of the
// kernel of internal/gpu/kernels/baryir.cu with the same name and arguments.
// It checks the Go side (lowering, buffer planning, offsets, strides,
// argument order) against the CPU tape machine; it does not check the CUDA
// code itself. Built and used by scripts/gpu_check.sh emu.
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
typedef int CUresult;
typedef unsigned long long CUdeviceptr;
static long launches = 0;
int emulate(const char*,unsigned,unsigned,unsigned,unsigned,void**);
CUresult cuInit(unsigned f){return 0;}
CUresult cuDriverGetVersion(int*v){*v=12000;return 0;}
CUresult cuDeviceGetCount(int*c){*c=1;return 0;}
CUresult cuDeviceGet(int*d,int o){*d=0;return 0;}
CUresult cuDeviceGetName(char*n,int len,int d){strncpy(n,"FakeGPU",len);return 0;}
CUresult cuDeviceGetAttribute(int*v,int a,int d){*v=132;return 0;}
CUresult cuCtxCreate_v2(void**c,unsigned f,int d){*c=(void*)1;return 0;}
CUresult cuCtxSetCurrent(void*c){return 0;}
CUresult cuCtxGetDevice(int*d){*d=0;return 0;}
CUresult cuCtxDestroy_v2(void*c){return 0;}
CUresult cuCtxSynchronize(void){return 0;}
CUresult cuModuleLoadData(void**m,const void*img){*m=(void*)1;return 0;}
CUresult cuModuleGetFunction(void**f,void*m,const char*name){*f=(void*)strdup(name);return 0;}
static unsigned long long fake_next = 1ull<<40;
CUresult cuMemAlloc_v2(CUdeviceptr*p,size_t n){
  if(getenv("FAKE_NOEXEC")){*p=fake_next; fake_next+=(n+255)/256*256; return 0;}
  *p=(CUdeviceptr)calloc(1,n);return *p?0:2;}
CUresult cuMemFree_v2(CUdeviceptr p){if(!getenv("FAKE_NOEXEC"))free((void*)p);return 0;}
CUresult cuMemcpyHtoD_v2(CUdeviceptr d,const void*s,size_t n){if(getenv("FAKE_NOEXEC"))return 0;memcpy((void*)d,s,n);return 0;}
CUresult cuMemcpyDtoH_v2(void*d,CUdeviceptr s,size_t n){if(getenv("FAKE_NOEXEC"))return 0;memcpy(d,(void*)s,n);return 0;}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d,CUdeviceptr s,size_t n,void*st){if(getenv("FAKE_NOEXEC"))return 0;memcpy((void*)d,(void*)s,n);return 0;}
CUresult cuMemGetInfo_v2(size_t*f,size_t*t){*f=1;*t=2;return 0;}
CUresult cuLaunchKernel(void*f,unsigned gx,unsigned gy,unsigned gz,unsigned bx,unsigned by,unsigned bz,unsigned sh,void*st,void**params,void**extra){
  launches++;
  if(gx<1||gy<1||gz<1||bx<1||bx>1024||gy>65535||gz>65535){fprintf(stderr,"bad launch %s %u %u %u %u\n",(char*)f,gx,gy,gz,bx);return 1;}
  if(getenv("FAKE_TRACE"))fprintf(stderr,"launch %s %u %u %u %u\n",(char*)f,gx,gy,gz,bx);
  if(getenv("FAKE_NOEXEC"))return 0;
  return emulate((char*)f,gx,gy,gz,bx,params);}
