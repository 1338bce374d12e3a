package cloudtrailproxy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// CloudTrail renders the XML of requests and responses as JSON: elements
// become keys, repeated elements arrays, attributes keys ("xmlns",
// "xsi:type"), "true"/"false" booleans. EC2 writes its lists as <item>
// elements, which CloudTrail renders as {"items": [...]}, and its empty sets
// as {}. Which numbers CloudTrail writes as numbers is per API; the proxy
// does it for the few fields below and leaves the others strings.
var numberFields = map[string]bool{
	"fromPort": true, "toPort": true, "minCount": true, "maxCount": true, "code": true, "amiLaunchIndex": true,
	"httpPutResponseHopLimit": true, "volumeSize": true, "iops": true, "throughput": true, "deviceIndex": true,
}

type xmlNode struct {
	name     string
	attrs    []xml.Attr
	children []*xmlNode
	text     strings.Builder
}

// parseXML reads an XML document into its element tree. Namespace prefixes
// are kept as written (RawToken), so that attributes render as CloudTrail
// writes them ("xsi:type", "xmlns:xsi").
func parseXML(data []byte) (*xmlNode, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var root *xmlNode
	var stack []*xmlNode
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &xmlNode{name: t.Name.Local, attrs: t.Attr}
			switch {
			case len(stack) > 0:
				top := stack[len(stack)-1]
				top.children = append(top.children, n)
			case root == nil:
				root = n
			default:
				return nil, fmt.Errorf("a second root element <%s>", t.Name.Local)
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, fmt.Errorf("unexpected </%s>", t.Name.Local)
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		}
	}
	if root == nil {
		return nil, errors.New("no XML element")
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("<%s> is not closed", stack[len(stack)-1].name)
	}
	return root, nil
}

// value renders the element's content; ec2 turns <item> lists into
// {"items": [...]} and empty *Set elements into {}.
func (n *xmlNode) value(ec2 bool) any {
	if len(n.children) == 0 && len(n.attrs) == 0 {
		text := strings.TrimSpace(n.text.String())
		if text == "" && ec2 && strings.HasSuffix(n.name, "Set") {
			return map[string]any{}
		}
		return scalar(n.name, text)
	}
	if ec2 && len(n.children) > 0 && len(n.attrs) == 0 {
		items := true
		for _, c := range n.children {
			items = items && c.name == "item"
		}
		if items {
			list := make([]any, 0, len(n.children))
			for _, c := range n.children {
				list = append(list, c.value(ec2))
			}
			return map[string]any{"items": list}
		}
	}
	obj := map[string]any{}
	for _, a := range n.attrs {
		key := a.Name.Local
		if a.Name.Space != "" {
			key = a.Name.Space + ":" + a.Name.Local
		}
		obj[key] = a.Value
	}
	count := map[string]int{}
	for _, c := range n.children {
		count[c.name]++
	}
	for _, c := range n.children {
		v := c.value(ec2)
		if count[c.name] == 1 {
			obj[c.name] = v
			continue
		}
		list, _ := obj[c.name].([]any)
		obj[c.name] = append(list, v)
	}
	return obj
}

// scalar renders one text value: booleans and the known numeric fields as
// JSON booleans and numbers, the rest as strings.
func scalar(name, text string) any {
	switch text {
	case "true":
		return true
	case "false":
		return false
	}
	if numberFields[lowerFirst(name)] {
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return n
		}
	}
	return text
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}

// queryNode is the tree of an EC2 Query request's parameters:
// "IpPermissions.1.IpRanges.1.CidrIp" is field IpPermissions, element 1,
// field IpRanges, element 1, field CidrIp.
type queryNode struct {
	value  *string
	fields map[string]*queryNode
	order  []string
	elems  map[int]*queryNode
}

func newQueryNode() *queryNode {
	return &queryNode{fields: map[string]*queryNode{}, elems: map[int]*queryNode{}}
}

// queryTree builds the tree of the parameters, without Action and Version.
func queryTree(params url.Values) *queryNode {
	root := newQueryNode()
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Action" && k != "Version" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		n := root
		for _, seg := range strings.Split(k, ".") {
			if i, err := strconv.Atoi(seg); err == nil {
				if n.elems[i] == nil {
					n.elems[i] = newQueryNode()
				}
				n = n.elems[i]
				continue
			}
			if n.fields[seg] == nil {
				n.fields[seg] = newQueryNode()
				n.order = append(n.order, seg)
			}
			n = n.fields[seg]
		}
		v := params.Get(k)
		n.value = &v
	}
	return root
}

func (n *queryNode) indexes() []int {
	idx := make([]int, 0, len(n.elems))
	for i := range n.elems {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return idx
}

func (n *queryNode) leaf() bool { return len(n.fields) == 0 && len(n.elems) == 0 }

// camel renders the parameters as CloudTrail records EC2's older calls:
// lowerCamelCase names and lists as {"items": [...]}.
func (n *queryNode) camel(name string) any {
	if n.leaf() {
		if n.value == nil {
			return ""
		}
		return scalar(name, *n.value)
	}
	if len(n.elems) > 0 {
		items := make([]any, 0, len(n.elems))
		for _, i := range n.indexes() {
			el := n.elems[i]
			if el.leaf() {
				items = append(items, map[string]any{lowerFirst(name): el.camel(name)})
			} else {
				items = append(items, el.camel(name))
			}
		}
		return map[string]any{"items": items}
	}
	obj := map[string]any{}
	for _, f := range n.order {
		obj[lowerFirst(f)] = n.fields[f].camel(f)
	}
	return obj
}

// pascal renders the parameters as CloudTrail records EC2's newer calls
// (wrapped in "<Action>Request"): names as sent, each list element an
// object with its position as "tag" (a lone element stands alone, several
// make an array), a plain value in a list as {"content": v, "tag": n}.
func (n *queryNode) pascal(name string) any {
	if n.leaf() {
		if n.value == nil {
			return ""
		}
		return scalar(name, *n.value)
	}
	if len(n.elems) > 0 {
		list := make([]any, 0, len(n.elems))
		for _, i := range n.indexes() {
			el := n.elems[i]
			if el.leaf() {
				list = append(list, map[string]any{"content": el.pascal(name), "tag": i})
				continue
			}
			obj, ok := el.pascal(name).(map[string]any)
			if !ok {
				obj = map[string]any{}
			}
			obj["tag"] = i
			list = append(list, obj)
		}
		if len(list) == 1 {
			return list[0]
		}
		return list
	}
	obj := map[string]any{}
	for _, f := range n.order {
		obj[f] = n.fields[f].pascal(f)
	}
	return obj
}
