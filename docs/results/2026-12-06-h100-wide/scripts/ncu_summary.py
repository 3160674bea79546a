import csv,sys
lines=open(sys.argv[1]).read().split('\n')
i=[n for n,l in enumerate(lines) if l.startswith('"ID"')][0]
rows=list(csv.reader(lines[i:]))
hdr=rows[0]; d={}
for r in rows[1:]:
    if len(r)<15: continue
    rec=dict(zip(hdr,r)); d.setdefault(rec['ID'],{'grid':rec['Grid Size'],'block':rec['Block Size']})[rec['Metric Name']]=rec['Metric Value']
want=['Duration','Compute (SM) Throughput','Memory Throughput','DRAM Throughput','Registers Per Thread','Achieved Occupancy','Theoretical Occupancy','Issue Slots Busy','No Eligible','Warp Cycles Per Issued Instruction','L2 Hit Rate','L1/TEX Hit Rate','Mem Busy','Max Bandwidth','Block Limit Registers','Block Limit Shared Mem','Static Shared Memory Per Block']
short=['dur','SM%','Mem%','DRAM%','regs','occ','theo','issue%','noelig%','cyc/ins','L2hit','L1hit','membusy','maxbw','blkReg','blkSmem','smem']
print('id grid block '+' '.join(short))
for k,v in d.items():
    print(k,v['grid'],v['block'],' '.join(str(v.get(w,'-')) for w in want))
