package pb

import (
	"bytes"
	"fmt"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// vtMessage is what protoc-gen-go-vtproto generates next to each message.
type vtMessage interface {
	proto.Message
	MarshalVT() ([]byte, error)
	UnmarshalVT([]byte) error
	SizeVT() int
}

// allMessages has one value of every message type of rpc.proto and
// health.proto; TestAllMessagesListed keeps it complete.
func allMessages() []vtMessage {
	return []vtMessage{
		&Empty{}, &AddNetworkRequest{}, &IPAllocationMetadata{}, &AddNetworkReply{},
		&DelNetworkRequest{}, &DelNetworkReply{}, &NetworkPolicyAgentConfigReply{},
		&ListAllocationsRequest{}, &Allocation{}, &ListAllocationsReply{},
		&HealthCheckRequest{}, &HealthCheckResponse{},
	}
}

func TestAllMessagesListed(t *testing.T) {
	listed := map[protoreflect.FullName]bool{}
	for _, m := range allMessages() {
		listed[m.ProtoReflect().Descriptor().FullName()] = true
	}
	for _, fd := range []protoreflect.FileDescriptor{File_rpc_proto, File_health_proto} {
		for i := 0; i < fd.Messages().Len(); i++ {
			if name := fd.Messages().Get(i).FullName(); !listed[name] {
				t.Errorf("message %s is missing from allMessages", name)
			}
		}
	}
}

// fill sets every field of m to a value derived from seed, repeated
// fields to two elements, nested messages recursively.
func fill(m protoreflect.Message, seed int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		n := seed*100 + int(fd.Number())
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for k := 0; k < 2; k++ {
				if fd.Kind() == protoreflect.MessageKind {
					e := l.NewElement()
					fill(e.Message(), n+k)
					l.Append(e)
				} else {
					l.Append(scalar(fd, n+k))
				}
			}
		case fd.IsMap():
			panic(fmt.Sprintf("field %s: maps are not filled; extend fill", fd.FullName()))
		case fd.Kind() == protoreflect.MessageKind:
			fill(m.Mutable(fd).Message(), n)
		default:
			m.Set(fd, scalar(fd, n))
		}
	}
}

func scalar(fd protoreflect.FieldDescriptor, n int) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprintf("%s-%d-ü", fd.Name(), n))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{byte(n), 0, 0xff})
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(vals.Len() - 1).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(-n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(-n) << 33)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n) << 20)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n) << 40)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n) / 3)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n) / 3)
	}
	panic(fmt.Sprintf("field %s: kind %s not handled", fd.FullName(), fd.Kind()))
}

// The generated code (what the plugin uses) and protobuf's reflective
// codec (what grpc-go in ipamd uses) write the same bytes and read each
// other's, for every message with every field set, for empty messages,
// and with fields this version does not know (a newer peer's).
func TestGeneratedCodecMatchesProtobuf(t *testing.T) {
	for _, empty := range allMessages() {
		name := string(empty.ProtoReflect().Descriptor().Name())
		for _, filled := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/filled=%v", name, filled), func(t *testing.T) {
				m := proto.Clone(empty).(vtMessage)
				if filled {
					fill(m.ProtoReflect(), 1)
				}
				want, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				got, err := m.MarshalVT()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("MarshalVT:\n%x\nproto.Marshal:\n%x", got, want)
				}
				if m.SizeVT() != len(want) {
					t.Errorf("SizeVT %d, encoded %d bytes", m.SizeVT(), len(want))
				}
				if filled && len(want) == 0 && m.ProtoReflect().Descriptor().Fields().Len() > 0 {
					t.Fatal("filled message encoded to nothing")
				}

				// A newer peer's field 999 (unknown here) survives a round trip.
				wire := protowire.AppendTag(bytes.Clone(want), 999, protowire.BytesType)
				wire = protowire.AppendString(wire, "from a newer release")
				back := proto.Clone(empty).(vtMessage)
				if err := back.UnmarshalVT(wire); err != nil {
					t.Fatal(err)
				}
				ref := proto.Clone(empty)
				if err := proto.Unmarshal(wire, ref); err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(back, ref) {
					t.Fatalf("UnmarshalVT read %v, proto.Unmarshal %v", back, ref)
				}
				again, err := back.MarshalVT()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, wire) {
					t.Fatalf("re-encoded:\n%x\nreceived:\n%x", again, wire)
				}
			})
		}
	}
}

// Malformed input is an error for the generated decoder as for protobuf's.
func TestGeneratedDecoderRejectsMalformed(t *testing.T) {
	m := &AddNetworkReply{}
	fill(m.ProtoReflect(), 2)
	good, err := m.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"truncated":           good[:len(good)-3],
		"length past the end": {0x0a, 0x7f, 'x'},
		"field number zero":   {0x00, 0x01},
	} {
		if err := new(AddNetworkReply).UnmarshalVT(bad); err == nil {
			t.Errorf("%s: UnmarshalVT accepted %x", name, bad)
		}
		if err := proto.Unmarshal(bad, new(AddNetworkReply)); err == nil {
			t.Errorf("%s: proto.Unmarshal accepted %x (the case is not malformed)", name, bad)
		}
	}
}
