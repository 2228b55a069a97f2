package baryir

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/x/baryir/data"
	"github.com/x/baryir/layers"
)

// Latents are a batch's bottleneck latents (paper Eq. 9-10): the source
// latent s, the barycenter latent b = LN(T(s)) and the residual r = s - b,
// each N x C x H x W in row-major order (image n, channel c at
// [((n*C+c)*H+y)*W+x]). They are what the paper's t-SNE figure and its
// feature ablations read.
type Latents struct {
	S, B, R    []float32
	N, C, H, W int
}

// Latents runs the encoder and the barycenter map of r's network on images,
// all the same size with sides multiples of 8, on the CPU, and returns their
// latents. The network must have a map; the decoder is not run.
func (r *Restorer) Latents(images []*data.Image) (Latents, error) {
	if len(images) == 0 {
		return Latents{}, errorf("latents: no images")
	}
	h, w := images[0].H, images[0].W
	if h%8 != 0 || w%8 != 0 {
		return Latents{}, errorf("latents: image %s is %dx%d; sides must be multiples of 8", images[0].Name, h, w)
	}
	for _, im := range images {
		if im.H != h || im.W != w {
			return Latents{}, errorf("latents: image %s is %dx%d, the first is %dx%d", im.Name, im.H, im.W, h, w)
		}
	}
	x, err := data.Stack(images)
	if err != nil {
		return Latents{}, errorf("latents: %w", err)
	}
	return latentsOf(r.arch, r.weights, x, len(images), h, w)
}

// latentsOf builds arch's network with weights, runs it on the batch x
// (b, 3, h, w) and reads s, b and r.
func latentsOf(arch Architecture, weights map[string]*tensor.Dense, x []float32, b, h, w int) (Latents, error) {
	g := G.NewGraph()
	net, err := buildNetwork(layers.NewScope(g, tensor.Float32, 0).WithValues(weights), arch)
	if err != nil {
		return Latents{}, err
	}
	if err := checkBound(net, weights); err != nil {
		return Latents{}, err
	}
	if net.Map == nil {
		return Latents{}, errorf("latents: the network %s has no barycenter map, so no barycenter latent", describe(arch))
	}
	net.DropResidual = false // the latents are the same either way; the decoder is not read
	in := G.NewTensor(g, tensor.Float32, 4, G.WithShape(b, 3, h, w), G.WithName("input"))
	o, err := net.Forward(in)
	if err != nil {
		return Latents{}, err
	}
	// Kernel outputs are recycled once their consumers have run (the op
	// package's buffer pool), so read copies that nothing consumes.
	nodes := make([]*G.Node, 3)
	for k, n := range []*G.Node{o.Source, o.Bary, o.Residual} {
		if nodes[k], err = layers.Scale(n, 1); err != nil {
			return Latents{}, err
		}
	}
	vals, err := runGraph(g, in, tensor.New(tensor.WithShape(b, 3, h, w), tensor.WithBacking(x)), nodes)
	if err != nil {
		return Latents{}, errorf("latents: %w", err)
	}
	sh := nodes[0].Shape()
	return Latents{S: vals[0], B: vals[1], R: vals[2], N: sh[0], C: sh[1], H: sh[2], W: sh[3]}, nil
}

// runGraph binds input to x, runs g once on the CPU and copies out the
// values of nodes.
func runGraph(g *G.ExprGraph, x *G.Node, input *tensor.Dense, nodes []*G.Node) ([][]float32, error) {
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := G.Let(x, input); err != nil {
		return nil, err
	}
	if err := m.RunAll(); err != nil {
		return nil, err
	}
	out := make([][]float32, len(nodes))
	for i, n := range nodes {
		d, ok := n.Value().Data().([]float32)
		if !ok {
			return nil, errorf("node %s holds %T, want float32", n.Name(), n.Value().Data())
		}
		out[i] = append([]float32{}, d...)
	}
	return out, nil
}
