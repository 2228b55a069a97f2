package layers_test

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/layers"
)

// Restormer's depthwise convolution in its attention,
//
//	self.qkv_dwconv = nn.Conv2d(dim*3, dim*3, kernel_size=3, stride=1, padding=1, groups=dim*3, bias=bias)
//
// with bias=False, and its output projection, a 1x1 convolution: the
// parameters carry the state_dict names and shapes of the PyTorch module.
func ExampleNewConv2d() {
	const dim = 8
	s := layers.NewScope(G.NewGraph(), tensor.Float32, 1)
	layers.NewConv2d(s.Sub("qkv_dwconv"), layers.Conv2dConfig{In: 3 * dim, Out: 3 * dim, Kernel: 3, Padding: 1, Groups: 3 * dim})
	layers.NewConv2d(s.Sub("project_out"), layers.Conv2dConfig{In: dim, Out: dim, Kernel: 1})
	for _, p := range s.Params() {
		fmt.Println(p.Name, p.Node.Shape())
	}
	// Output:
	// qkv_dwconv.weight (24, 1, 3, 3)
	// project_out.weight (8, 8, 1, 1)
}
