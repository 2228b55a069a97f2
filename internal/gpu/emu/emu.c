// CPU emulation of baryir's CUDA kernels, for checking the Go orchestration.
#include <math.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
typedef long long ll;
#define P(i) (*(float**)params[i])
#define I(i) (*(int*)params[i])
#define L(i) (*(ll*)params[i])
#define F(i) (*(float*)params[i])



int emulate(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, void** params) {
  if (!strcmp(name, "fill_f32")) { float*o=P(0); ll n=L(1); float v=F(2); for(ll i=0;i<n;i++)o[i]=v; return 0; }
  if (!strcmp(name, "binary_f32")) { float*o=P(0),*a=P(1),*b=P(2); ll n=L(3),na=L(4),nb=L(5); int op=I(6);
    for(ll i=0;i<n;i++){float x=a[na==1?0:i],y=b[nb==1?0:i]; o[i]= op==0?x+y:op==1?x-y:op==2?x*y:x/y;} return 0; }
  if (!strcmp(name, "unary_f32")) { float*o=P(0),*a=P(1); ll n=L(2); int op=I(3);
    for(ll i=0;i<n;i++){float x=a[i]; float r; switch(op){case 0:r=-x;break;case 1:r=fabsf(x);break;case 2:r=x*x;break;case 3:r=sqrtf(x);break;case 4:r=expf(x);break;case 5:r=logf(x);break;case 6:r=tanhf(x);break;case 7:r=1.f/(1.f+expf(-x));break;case 8:r=1.f/x;break;case 9:r=(x>0.f)?1.f:((x<0.f)?-1.f:0.f);break;case 10:r=x*x*x;break;default:r=x>0.f?x:0.f;} o[i]=r;} return 0; }
  if (!strcmp(name, "scale_f32")) { float*o=P(0),*a=P(1); ll n=L(2); float s=F(3); for(ll i=0;i<n;i++)o[i]=s*a[i]; return 0; }
  if (!strcmp(name, "leaky_f32")) { float*o=P(0),*a=P(1); ll n=L(2); float s=F(3); for(ll i=0;i<n;i++)o[i]=a[i]>0?a[i]:s*a[i]; return 0; }
  if (!strcmp(name, "leaky_grad_f32")) { float*o=P(0),*x=P(1),*d=P(2); ll n=L(3); float s=F(4); for(ll i=0;i<n;i++)o[i]=x[i]>0?d[i]:s*d[i]; return 0; }
  if (!strcmp(name, "repeat_f32")) { float*o=P(0),*in=P(1); ll n=L(2); int od[4]={I(3),I(4),I(5),I(6)}, id[4]={I(7),I(8),I(9),I(10)};
    for(ll i=0;i<n;i++){ll r=i; int o3=r%od[3]; r/=od[3]; int o2=r%od[2]; r/=od[2]; int o1=r%od[1]; r/=od[1]; int o0=r;
      int i0=o0/(od[0]/id[0]),i1=o1/(od[1]/id[1]),i2=o2/(od[2]/id[2]),i3=o3/(od[3]/id[3]); o[i]=in[((ll)(i0*id[1]+i1)*id[2]+i2)*id[3]+i3];} return 0; }
  if (!strcmp(name, "reduce_sum_f32")) { float*o=P(0),*in=P(1); int outer=I(2),red=I(3),inner=I(4); float sc=F(5),beta=F(6);
    if ((ll)gx != (ll)outer*inner) { fprintf(stderr,"reduce grid %u != %d\n",gx,outer*inner); }
    for(ll idx=0; idx<gx; idx++){int oo=idx/inner,j=idx%inner; double s=0; for(int r=0;r<red;r++)s+=in[((ll)oo*red+r)*inner+j]; o[idx]=sc*s+(beta!=0?beta*o[idx]:0);} return 0; }
  if (!strcmp(name, "reduce_mid_f32")) { float*o=P(0),*in=P(1); int outer=I(2),red=I(3),inner=I(4); float sc=F(5),beta=F(6);
    for(ll idx=0; idx<(ll)outer*inner; idx++){int oo=idx/inner,j=idx%inner; double s=0; for(int r=0;r<red;r++)s+=in[((ll)oo*red+r)*inner+j]; o[idx]=sc*s+(beta!=0?beta*o[idx]:0);} return 0; }
  if (!strcmp(name, "channel_sum_f32")) { float*o=P(0),*x=P(1); int B=I(2),C=I(3),HW=I(4),chunk=I(5);
    for(unsigned y=0;y<gy;y++)for(int c=0;c<C;c++){double s=0; for(ll q=(ll)y*chunk;q<(ll)(y+1)*chunk&&q<(ll)B*HW;q++){int b=q/HW,p=q%HW; s+=x[((ll)b*C+c)*HW+p];} o[(ll)y*C+c]=s;} return 0; }
  if (!strcmp(name, "bias_add_f32")) { float*o=P(0),*x=P(1),*b=P(2); int C=I(3),HW=I(4); ll n=L(5); for(ll i=0;i<n;i++)o[i]=x[i]+b[(i/HW)%C]; return 0; }
  if (!strcmp(name, "channel_copy_f32")) { float*d=P(0),*s=P(1); int B=I(2),n=I(3),HW=I(4),tot=I(5),from=I(6),tb=I(7);
    for(ll i=0;i<(ll)B*n*HW;i++){ll p=i%HW, bc=i/HW; int c=bc%n,b=bc/n; ll big=((ll)b*tot+from+c)*HW+p; if(tb)d[big]=s[i]; else d[i]=s[big];} return 0; }
  if (!strcmp(name, "shuffle_f32")) { float*o=P(0),*in=P(1); int B=I(2),C=I(3),H=I(4),W=I(5),r=I(6),down=I(7); int sh=H/r,sw=W/r;
    for(ll i=0;i<(ll)B*C*H*W;i++){ll t=i; int x=t%sw; t/=sw; int y=t%sh; t/=sh; int sc=t%(C*r*r); int b=t/(C*r*r); int c=sc/(r*r),ij=sc%(r*r),ii=ij/r,jj=ij%r;
      ll big=(((ll)b*C+c)*H+(r*y+ii))*W+(r*x+jj); if(down)o[i]=in[big]; else o[big]=in[i];} return 0; }
  if (!strcmp(name, "sgemm_f32")||!strcmp(name, "sgemm128x128_f32")||!strcmp(name, "sgemm64x128_f32")||!strcmp(name, "sgemm128x64_f32")) { float*A=P(0),*B=P(1),*C=P(2); int M=I(3),N=I(4),K=I(5),lda=I(6),ldb=I(7),ldc=I(8),ta=I(9),tb=I(10); float al=F(11),be=F(12); int inner=I(13);
    ll sAo=L(14),sAi=L(15),sBo=L(16),sBi=L(17),sCo=L(18),sCi=L(19); int split=I(20); ll sAs=L(21),sBs=L(22),sCs=L(23);
    int bm = 64, bn = 64; if (!strcmp(name, "sgemm128x128_f32")) bm = bn = 128; if (!strcmp(name, "sgemm64x128_f32")) bn = 128; if (!strcmp(name, "sgemm128x64_f32")) bm = 128;
    if (gx != (unsigned)((N+bn-1)/bn) || gy != (unsigned)((M+bm-1)/bm)) fprintf(stderr,"sgemm grid mismatch %s\n", name);
    for(unsigned z0=0; z0<gz; z0++){ int zs=z0%split; int z=z0/split; int zo=z/inner, zi=z%inner;
      float*a=A+zo*sAo+zi*sAi+zs*sAs; float*b=B+zo*sBo+zi*sBi+zs*sBs; float*c=C+zo*sCo+zi*sCi+zs*sCs;
      for(int m=0;m<M;m++)for(int n=0;n<N;n++){double s=0; for(int k=0;k<K;k++){float x= ta? a[(ll)k*lda+m]:a[(ll)m*lda+k]; float y= tb? b[(ll)n*ldb+k]:b[(ll)k*ldb+n]; s+=x*y;}
        ll o=(ll)m*ldc+n; float v=al*s; if(be!=0)v+=be*c[o]; c[o]=v;} }
    return 0; }
  if (!strcmp(name, "im2col_f32")) { float*col=P(0),*x=P(1); int B=I(2),Cin=I(3),H=I(4),W=I(5),K=I(6),st=I(7),pad=I(8),G=I(9),Ho=I(10),Wo=I(11);
    ll n=(ll)B*Cin*K*K*Ho*Wo; for(ll i=0;i<n;i++){ll t=i; int ox=t%Wo; t/=Wo; int oy=t%Ho; t/=Ho; int kx=t%K; t/=K; int ky=t%K; t/=K; int c=t%Cin; int b=t/Cin;
      int iy=oy*st-pad+ky, ix=ox*st-pad+kx; float v=0; if(iy>=0&&iy<H&&ix>=0&&ix<W)v=x[(((ll)b*Cin+c)*H+iy)*W+ix]; col[i]=v;} return 0; }
  if (!strcmp(name, "col2im_f32")) { float*dx=P(0),*col=P(1); int B=I(2),Cin=I(3),H=I(4),W=I(5),K=I(6),st=I(7),pad=I(8),Ho=I(9),Wo=I(10);
    for(ll i=0;i<(ll)B*Cin*H*W;i++){ll t=i; int ix=t%W; t/=W; int iy=t%H; t/=H; ll bc=t; float s=0;
      for(int ky=0;ky<K;ky++){int ny=iy+pad-ky; if(ny<0||ny%st)continue; int oy=ny/st; if(oy>=Ho)continue;
        for(int kx=0;kx<K;kx++){int nx=ix+pad-kx; if(nx<0||nx%st)continue; int ox=nx/st; if(ox>=Wo)continue; s+=col[((bc*K+ky)*K+kx)*Ho*Wo+(ll)oy*Wo+ox];}}
      dx[i]=s;} return 0; }
  if (!strcmp(name, "dw_fwd_f32")||!strcmp(name,"dw_bx_f32")||!strcmp(name,"dw_bw_f32")) {
    float*o=P(0),*a=P(1),*b=P(2); int B=I(3),C=I(4),H=I(5),W=I(6),K=I(7),st=I(8),pad=I(9),Ho=I(10),Wo=I(11);
    int mode = !strcmp(name,"dw_fwd_f32")?0: !strcmp(name,"dw_bx_f32")?1:2;
    if(mode==0) memset(o,0,sizeof(float)*(ll)B*C*Ho*Wo);
    if(mode==1) memset(o,0,sizeof(float)*(ll)B*C*H*W);
    int chunk = mode==2 ? I(12) : 0;
    if(mode==2) memset(o,0,sizeof(float)*C*K*K*gy);
    for(int bb=0;bb<B;bb++)for(int c=0;c<C;c++)for(int oy=0;oy<Ho;oy++)for(int ox=0;ox<Wo;ox++)for(int ky=0;ky<K;ky++)for(int kx=0;kx<K;kx++){
      int iy=oy*st-pad+ky, ix=ox*st-pad+kx; if(iy<0||iy>=H||ix<0||ix>=W)continue;
      ll xi=(((ll)bb*C+c)*H+iy)*W+ix, yi=(((ll)bb*C+c)*Ho+oy)*Wo+ox; int wi=c*K*K+ky*K+kx;
      if(mode==0) o[yi]+=b[wi]*a[xi];           // y, x, w
      else if(mode==1) o[xi]+=a[wi]*b[yi];      // dx, w, dy
      else { ll q=(ll)bb*Ho*Wo+oy*Wo+ox; o[(q/chunk)*C*K*K+wi]+=b[yi]*a[xi]; } } // partial dw, x, dy
    return 0; }
  if (!strncmp(name, "ln_", 3)) {
    if(!strcmp(name,"ln_bw_f32")){ float*dw=P(0),*x=P(1),*dy=P(2),*mu=P(3),*rs=P(4); int B=I(5),C=I(6),HW=I(7),bf=I(8),chunk=I(9);
      for(unsigned y=0;y<gy;y++)for(int c=0;c<C;c++){double s=0; for(ll q=(ll)y*chunk;q<(ll)(y+1)*chunk&&q<(ll)B*HW;q++){int b=q/HW,p=q%HW; float xv=x[((ll)b*C+c)*HW+p]; float xh= bf? xv*rs[q] : (xv-mu[q])*rs[q]; s+=dy[((ll)b*C+c)*HW+p]*xh;} dw[(ll)y*C+c]=s;} return 0; }
    int st = !strcmp(name,"ln_stats_f32");
    float *o0=P(0);
    int B,C,HW,bf=0; float *x,*w=0,*bias=0,*dy=0,*o1=0;
    if(st){o1=P(1); x=P(2); B=I(3);C=I(4);HW=I(5);}
    else if(!strcmp(name,"ln_fwd_f32")){x=P(1);w=P(2);bias=P(3);B=I(4);C=I(5);HW=I(6);bf=I(7);}
    else {x=P(1);w=P(2);dy=P(3);B=I(4);C=I(5);HW=I(6);bf=I(7);}
    for(int b=0;b<B;b++)for(int p=0;p<HW;p++){ float*xp=x+(ll)b*C*HW+p; float m=0; for(int c=0;c<C;c++)m+=xp[(ll)c*HW]; m/=C; float v=0; for(int c=0;c<C;c++){float d=xp[(ll)c*HW]-m; v+=d*d;} float r=1/sqrtf(v/C+1e-5f);
      if(st){o0[(ll)b*HW+p]=m; o1[(ll)b*HW+p]=r; continue;}
      if(w && !dy){ for(int c=0;c<C;c++){float xv=xp[(ll)c*HW]; o0[(ll)b*C*HW+p+(ll)c*HW]= bf? xv*r*w[c] : (xv-m)*r*w[c]+bias[c];} continue; }
      float*dp=dy+(ll)b*C*HW+p; float s1=0,s2=0; for(int c=0;c<C;c++){float xv=xp[(ll)c*HW]; float g=dp[(ll)c*HW]*w[c]; s1+=g; s2+= bf? g*xv : g*(xv-m)*r;} s1/=C; s2/=C; if(bf){s2*=r; s1=0;}
      for(int c=0;c<C;c++){float xv=xp[(ll)c*HW]; float xh=(xv-m)*r; o0[(ll)b*C*HW+p+(ll)c*HW]=r*(dp[(ll)c*HW]*w[c]-s1-xh*s2);} }
    return 0; }
  if (!strcmp(name, "gelu_gate_f32")||!strcmp(name,"gelu_gate_grad_f32")) { int gr=!strcmp(name,"gelu_gate_grad_f32");
    float*o=P(0),*x=P(1),*dy= gr?P(2):0; int B=I(gr?3:2),h=I(gr?4:3),HW=I(gr?5:4);
    for(ll i=0;i<(ll)B*h*HW;i++){ll p=i%HW,bc=i/HW; int c=bc%h,b=bc/h; ll o1=((ll)b*2*h+c)*HW+p,o2=o1+(ll)h*HW; float xv=x[o1]; float cdf=0.5f*(1+erff(xv*0.70710678f)); float pdf=expf(-0.5f*xv*xv)*0.3989422804f; float y=xv*cdf,d=cdf+xv*pdf;
      if(!gr)o[i]=y*x[o2]; else {o[o1]=dy[i]*x[o2]*d; o[o2]=dy[i]*y;}} return 0; }
  if (!strcmp(name, "attn_rownorm_f32")) { float*dst=P(0),*nrm=P(1),*qkv=P(2); int C=I(3),n=I(4),off=I(5);
    for(unsigned r=0;r<gx;r++){int b=r/C,c=r%C; float*s=qkv+((ll)b*3*C+off*C+c)*n; double ss=0; for(int j=0;j<n;j++)ss+=s[j]*s[j]; float nm=fmaxf(sqrtf(ss),1e-12f); for(int j=0;j<n;j++)dst[(ll)r*n+j]=s[j]/nm; nrm[r]=nm;} return 0; }
  if (!strcmp(name, "attn_rownorm_back_f32")) { float*dq=P(0),*rn=P(1),*nrm=P(2); int C=I(3),n=I(4),off=I(5);
    for(unsigned r=0;r<gx;r++){int b=r/C,c=r%C; float*g=dq+((ll)b*3*C+off*C+c)*n; float*ri=rn+(ll)r*n; float nm=nrm[r]; double d=0; if(nm>1e-12f)for(int j=0;j<n;j++)d+=g[j]*ri[j]; for(int j=0;j<n;j++)g[j]=(g[j]-ri[j]*d)/nm;} return 0; }
  if (!strcmp(name, "attn_softmax_f32")) { float*A=P(0),*G=P(1),*t=P(2); int heads=I(3),ch=I(4),rows=I(5);
    for(int r=0;r<rows;r++){int h=(r/ch)%heads; float tt=t[h]; float mx=-INFINITY; for(int j=0;j<ch;j++)mx=fmaxf(mx,tt*G[(ll)r*ch+j]); float s=0; for(int j=0;j<ch;j++){float e=expf(tt*G[(ll)r*ch+j]-mx); A[(ll)r*ch+j]=e; s+=e;} for(int j=0;j<ch;j++)A[(ll)r*ch+j]/=s;} return 0; }
  if (!strcmp(name, "attn_dsoftmax_f32")) { float*dA=P(0),*rowdt=P(1),*A=P(2),*G=P(3),*t=P(4); int heads=I(5),ch=I(6),rows=I(7);
    for(int r=0;r<rows;r++){int h=(r/ch)%heads; float tt=t[h]; float*a=A+(ll)r*ch,*g=G+(ll)r*ch,*d=dA+(ll)r*ch; float ad=0; for(int j=0;j<ch;j++)ad+=a[j]*d[j]; float dt=0; for(int j=0;j<ch;j++){float ds=a[j]*(d[j]-ad); dt+=ds*g[j]; d[j]=tt*ds;} rowdt[r]=dt;} return 0; }
  if (!strcmp(name, "attn_dtemp_f32")) { float*dt=P(0),*rowdt=P(1); int B=I(2),heads=I(3),ch=I(4);
    for(int h=0;h<heads;h++){double s=0; for(int b=0;b<B;b++)for(int j=0;j<ch;j++)s+=rowdt[((ll)b*heads+h)*ch+j]; dt[h]=s;} return 0; }
  if (!strcmp(name, "slice_axis_f32")) { float*o=P(0),*in=P(1); int outer=I(2),A=I(3),inner=I(4),start=I(5),step=I(6),count=I(7);
    for(ll i=0;i<(ll)outer*count*inner;i++){int j=i%inner; ll t=i/inner; int k=t%count; ll oo=t/count; o[i]=in[(oo*A+start+(ll)k*step)*inner+j];} return 0; }
  if (!strcmp(name, "row_norms_f32")) { float*nrm=P(0),*x=P(1); int F=I(2); for(unsigned b=0;b<gx;b++){double s=0; for(int j=0;j<F;j++)s+=x[(ll)b*F+j]*x[(ll)b*F+j]; nrm[b]=fmaxf(sqrtf(s),1e-12f);} return 0; }
  if (!strcmp(name, "bro_small_f32")) { float*out=P(0),*A=P(1),*Cm=P(2),*D=P(3),*nb=P(4),*nr=P(5),*dl=P(6); int B=I(7),mode=I(8);
    for(int i=0;i<B;i++){float s=0; for(int j=0;j<B;j++){float c=D[i*B+j]/(nb[i]*nr[j]); if(mode==0)s+=c*c; else {Cm[i*B+j]=c; A[i*B+j]=2*c*dl[i];}} if(mode==0)out[i]=s;} return 0; }
  if (!strcmp(name, "irc_small_f32")) { float*out=P(0),*S=P(1),*tmp=P(2),*Cm=P(3),*D=P(4),*n=P(5),*ids=P(6),*dl=P(7); int B=I(8); float tau=F(9); int mode=I(10);
    for(int i=0;i<B;i++){float mA=-INFINITY,mP=-INFINITY; int same=1; for(int j=0;j<B;j++){float c=D[i*B+j]/(n[i]*n[j]); mA=fmaxf(mA,c); if(ids[j]==ids[i])mP=fmaxf(mP,c); else same=0;}
      float sP=0,sN=0; for(int j=0;j<B;j++){float e=expf((D[i*B+j]/(n[i]*n[j])-mA)/tau); if(ids[j]==ids[i])sP+=e; else sN+=e;} (void)mP;
      if(mode==0){out[i]=same?0:log1pf(sN/sP); continue;}
      for(int j=0;j<B;j++){float c=D[i*B+j]/(n[i]*n[j]); Cm[i*B+j]=c; float a=0; if(!same){float e=expf((c-mA)/tau); float pq= ids[j]==ids[i] ? -e*sN/(sP*(sP+sN)) : e/(sP+sN); a=dl[i]*pq/tau;} tmp[i*B+j]=a;}}
    if(mode==1) for(int e=0;e<B*B;e++){int i=e/B,j=e%B; S[e]=tmp[i*B+j]+tmp[j*B+i];}
    return 0; }
  if (!strcmp(name, "backrows_prep_f32")) { float*W=P(0),*s=P(1),*A=P(2),*C=P(3),*nx=P(4),*ny=P(5); int B=I(6),tr=I(7);
    for(int i=0;i<B;i++){float proj=0; for(int j=0;j<B;j++){float a=tr?A[j*B+i]:A[i*B+j]; float c=tr?C[j*B+i]:C[i*B+j]; W[i*B+j]=a/(nx[i]*ny[j]); proj+=a*c;} s[i]= nx[i]<=1e-12f?0:-proj/(nx[i]*nx[i]);} return 0; }
  if (!strcmp(name, "row_axpy_f32")) { float*dx=P(0),*x=P(1),*s=P(2); int F=I(3); ll n=L(4); for(ll i=0;i<n;i++)dx[i]+=s[i/F]*x[i]; return 0; }
  if (!strcmp(name, "absdiff_f32")) { float*o=P(0),*x=P(1),*y=P(2); ll n=L(3); for(ll i=0;i<n;i++)o[i]=fabsf(x[i]-y[i]); return 0; }
  if (!strcmp(name, "l1_grad_f32")) { float*o=P(0),*x=P(1),*y=P(2),*dl=P(3); ll n=L(4); float sg=F(5); float g=sg*dl[0]/(float)n; for(ll i=0;i<n;i++){float d=x[i]-y[i]; o[i]=d>0?g:(d<0?-g:0);} return 0; }
  if (!strcmp(name, "rmsprop_f32")) { float*w=P(0),*g=P(1),*c=P(2); ll n=L(3); float lr=F(4),dec=F(5),eps=F(6); int ins=I(7);
    for(ll i=0;i<n;i++){float gi=g[i]; float cc=dec*c[i]+(1-dec)*gi*gi; c[i]=cc; float den= ins? sqrtf(cc+eps): sqrtf(cc)+eps; w[i]-=lr*gi/den;} return 0; }
  if (!strcmp(name, "adam_f32")) { float*w=P(0),*g=P(1),*m=P(2),*v=P(3); ll n=L(4); float lr=F(5),b1=F(6),b2=F(7),eps=F(8),bc1=F(9),bc2=F(10);
    for(ll i=0;i<n;i++){float gi=g[i]; float mi=b1*m[i]+(1-b1)*gi, vi=b2*v[i]+(1-b2)*gi*gi; m[i]=mi; v[i]=vi; w[i]-=lr*(mi/bc1)/(sqrtf(vi/bc2)+eps);} return 0; }
  fprintf(stderr, "emu: unknown kernel %s\n", name);
  return 1;
}
