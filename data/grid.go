package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/plot/font/liberation"

	"github.com/x/baryir/internal/safetensors"
)

// GridTile is one picture of a Grid, with an optional caption drawn under it.
// A caption may hold several lines separated by "\n" (for example PSNR on
// one line and SSIM on the next).
type GridTile struct {
	Image   *Image
	Caption string
}

// Grid is a labelled picture grid: column titles, row labels, Tiles[row][col]
// (nil Image = blank cell). Columns and Rows may be empty (no titles, no
// labels); when given, they must match the tiles' shape. Labels and captions
// are drawn in Liberation Sans, the font gonum/plot ships, and may hold
// several lines separated by "\n".
type Grid struct {
	Title         string
	Columns, Rows []string
	Tiles         [][]GridTile
}

// Layout of a rendered grid, in pixels.
const (
	gridPad      = 8  // margin round the grid and gap between cells
	gridTextSize = 14 // captions, column titles and row labels
	gridTitle    = 18 // the grid's title
	// gridMaxPixels bounds the rendered canvas (64 Mpixel, 256 MiB RGBA), so
	// a label of a million newlines is an error, not an allocation.
	gridMaxPixels = 1 << 26
)

// Render lays the grid out and draws it: the title on top, column titles
// over their columns, row labels left of their rows, every picture centred in
// its cell at its own size (no resampling) and its caption under it. Columns
// are as wide as their widest picture, caption or title; rows as tall as
// their tallest picture.
func (g Grid) Render() (image.Image, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	faces, err := newGridFaces()
	if err != nil {
		return nil, err
	}
	l, err := g.layout(faces)
	if err != nil {
		return nil, err
	}
	canvas := image.NewRGBA(image.Rect(0, 0, l.width, l.height))
	draw.Draw(canvas, canvas.Bounds(), image.White, image.Point{}, draw.Src)

	if g.Title != "" {
		drawText(canvas, faces.title, g.Title, image.Rect(0, gridPad, l.width, gridPad+l.titleH), alignCentre)
	}
	for c, title := range g.Columns {
		drawText(canvas, faces.bold, title, image.Rect(l.colX[c], l.colTitleY, l.colX[c]+l.colW[c], l.colTitleY+l.colTitleH), alignCentre)
	}
	for r, row := range g.Tiles {
		if r < len(g.Rows) {
			drawText(canvas, faces.bold, g.Rows[r], image.Rect(gridPad, l.rowY[r], gridPad+l.labelW, l.rowY[r]+l.rowH[r]), alignLeft)
		}
		for c, t := range row {
			cell := image.Rect(l.colX[c], l.rowY[r], l.colX[c]+l.colW[c], l.rowY[r]+l.rowH[r])
			if t.Image != nil {
				at := image.Pt(cell.Min.X+(cell.Dx()-t.Image.W)/2, cell.Min.Y+(cell.Dy()-t.Image.H)/2)
				draw.Draw(canvas, image.Rect(at.X, at.Y, at.X+t.Image.W, at.Y+t.Image.H), t.Image.ToNRGBA(), image.Point{}, draw.Src)
			}
			if t.Caption != "" {
				drawText(canvas, faces.text, t.Caption, image.Rect(cell.Min.X, cell.Max.Y, cell.Max.X, cell.Max.Y+l.capH[r]), alignCentre)
			}
		}
	}
	return canvas, nil
}

// WritePNG renders the grid and writes it to path as an 8-bit PNG,
// atomically (temporary file, then rename).
func (g Grid) WritePNG(path string) error {
	im, err := g.Render()
	if err != nil {
		return fmt.Errorf("data: grid %s: %w", path, err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, im); err != nil {
		return fmt.Errorf("data: grid %s: %w", path, err)
	}
	if err := safetensors.WriteFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("data: grid %s: %w", path, err)
	}
	return nil
}

// validate checks the grid's shape: rows of equal length, label counts that
// match, pictures whose pixels match their size, at least one picture.
func (g Grid) validate() error {
	if len(g.Tiles) == 0 {
		return errors.New("data: grid has no rows of tiles")
	}
	ncol := len(g.Tiles[0])
	if ncol == 0 {
		return errors.New("data: grid row 0 has no tiles")
	}
	for r, row := range g.Tiles {
		if len(row) != ncol {
			return fmt.Errorf("data: grid rows are ragged: row 0 has %d tiles, row %d has %d", ncol, r, len(row))
		}
	}
	if len(g.Columns) != 0 && len(g.Columns) != ncol {
		return fmt.Errorf("data: grid has %d column titles for %d columns", len(g.Columns), ncol)
	}
	if len(g.Rows) != 0 && len(g.Rows) != len(g.Tiles) {
		return fmt.Errorf("data: grid has %d row labels for %d rows", len(g.Rows), len(g.Tiles))
	}
	pictures := 0
	for r, row := range g.Tiles {
		for c, t := range row {
			if t.Image == nil {
				continue
			}
			im := t.Image
			if im.H <= 0 || im.W <= 0 || len(im.Pix) != 3*im.H*im.W {
				return fmt.Errorf("data: grid tile (%d,%d) %s: %d values do not form a 3x%dx%d image", r, c, im.Name, len(im.Pix), im.H, im.W)
			}
			pictures++
		}
	}
	if pictures == 0 {
		return errors.New("data: grid has no pictures (every tile is blank)")
	}
	return nil
}

// gridLayout is where everything goes: x of each column, y of each row (the
// picture area; its caption band follows), and the bands' sizes.
type gridLayout struct {
	width, height        int
	titleH               int
	colTitleY, colTitleH int
	labelW               int
	colX, colW           []int
	rowY, rowH, capH     []int
}

func (g Grid) layout(f gridFaces) (gridLayout, error) {
	ncol, nrow := len(g.Tiles[0]), len(g.Tiles)
	l := gridLayout{colX: make([]int, ncol), colW: make([]int, ncol), rowY: make([]int, nrow), rowH: make([]int, nrow), capH: make([]int, nrow)}
	if g.Title != "" {
		l.titleH = textHeight(f.title, g.Title) + gridPad
	}
	for c, title := range g.Columns {
		l.colTitleH = max(l.colTitleH, textHeight(f.bold, title))
		l.colW[c] = textWidth(f.bold, title)
	}
	if l.colTitleH > 0 {
		l.colTitleH += gridPad / 2
	}
	for _, label := range g.Rows {
		l.labelW = max(l.labelW, textWidth(f.bold, label))
	}
	for r, row := range g.Tiles {
		for c, t := range row {
			if t.Image != nil {
				l.colW[c] = max(l.colW[c], t.Image.W)
				l.rowH[r] = max(l.rowH[r], t.Image.H)
			}
			if t.Caption != "" {
				l.colW[c] = max(l.colW[c], textWidth(f.text, t.Caption))
				l.capH[r] = max(l.capH[r], textHeight(f.text, t.Caption)+gridPad/2)
			}
		}
		if r < len(g.Rows) {
			l.rowH[r] = max(l.rowH[r], textHeight(f.bold, g.Rows[r]))
		}
	}

	x := gridPad
	if l.labelW > 0 {
		x += l.labelW + gridPad
	}
	for c := range l.colX {
		l.colX[c] = x
		x += l.colW[c] + gridPad
	}
	l.colTitleY = gridPad + l.titleH
	y := l.colTitleY + l.colTitleH
	for r := range l.rowY {
		l.rowY[r] = y
		y += l.rowH[r] + l.capH[r] + gridPad
	}
	l.width, l.height = x, y
	if l.width*l.height > gridMaxPixels || l.width <= 0 || l.height <= 0 {
		return l, fmt.Errorf("data: grid would be %dx%d pixels, over the %d Mpixel limit", l.width, l.height, gridMaxPixels>>20)
	}
	return l, nil
}

// gridFaces are the three text faces of a grid. Faces cache glyphs and are
// not safe for concurrent use, so each Render makes its own.
type gridFaces struct{ text, bold, title font.Face }

var parsedFonts = sync.OnceValues(func() (map[string]*opentype.Font, error) {
	out := map[string]*opentype.Font{}
	for _, f := range liberation.Collection() {
		if f.Font.Variant != "Sans" || f.Font.Style != font.StyleNormal {
			continue
		}
		switch f.Font.Weight {
		case font.WeightNormal:
			out["regular"] = f.Face
		case font.WeightBold:
			out["bold"] = f.Face
		}
	}
	if out["regular"] == nil || out["bold"] == nil {
		return nil, errors.New("data: Liberation Sans regular and bold not found in gonum/plot's fonts")
	}
	return out, nil
})

func newGridFaces() (gridFaces, error) {
	fonts, err := parsedFonts()
	if err != nil {
		return gridFaces{}, err
	}
	face := func(f *opentype.Font, size float64) (font.Face, error) {
		return opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	}
	var out gridFaces
	if out.text, err = face(fonts["regular"], gridTextSize); err != nil {
		return out, fmt.Errorf("data: grid font: %w", err)
	}
	if out.bold, err = face(fonts["bold"], gridTextSize); err != nil {
		return out, fmt.Errorf("data: grid font: %w", err)
	}
	if out.title, err = face(fonts["bold"], gridTitle); err != nil {
		return out, fmt.Errorf("data: grid font: %w", err)
	}
	return out, nil
}

// lineHeight is the distance between baselines of f.
func lineHeight(f font.Face) int { return f.Metrics().Height.Ceil() }

func textHeight(f font.Face, s string) int {
	return lineHeight(f) * (strings.Count(s, "\n") + 1)
}

func textWidth(f font.Face, s string) int {
	w := 0
	for _, line := range strings.Split(s, "\n") {
		w = max(w, font.MeasureString(f, line).Ceil())
	}
	return w
}

type textAlign int

const (
	alignLeft textAlign = iota
	alignCentre
)

// drawText draws s in black, its lines stacked and the block centred
// vertically in box; each line is centred or left-aligned horizontally.
func drawText(dst draw.Image, f font.Face, s string, box image.Rectangle, align textAlign) {
	d := font.Drawer{Dst: dst, Src: image.NewUniform(color.Black), Face: f}
	lh := lineHeight(f)
	y := box.Min.Y + (box.Dy()-textHeight(f, s))/2 + f.Metrics().Ascent.Ceil()
	for _, line := range strings.Split(s, "\n") {
		x := box.Min.X
		if align == alignCentre {
			x += (box.Dx() - font.MeasureString(f, line).Ceil()) / 2
		}
		d.Dot = fixed.P(x, y)
		d.DrawString(line)
		y += lh
	}
}
